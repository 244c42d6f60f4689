"""Configuration from `FULFILLMENT_*` environment variables, one object shared by every process."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FULFILLMENT_", extra="ignore")

    data_dir: Path = Field(Path(".data"), description="Where SQLite files and the dev key live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; SQLite in data_dir when unset.")
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("fulfillment", description="Temporal namespace.")
    task_queue: str = Field("fulfillment-sessions", description="Task queue of session and order workflows.")
    notifications_task_queue: str = Field(
        "fulfillment-notifications", description="Task queue of webhook and push deliveries."
    )
    worker_queues: str = Field(
        "sessions,notifications", description="Which queues `fulfillment worker` serves."
    )
    webhook_retry_schedule: str = Field(
        "5,300,1800,7200,18000,36000,36000", description="Seconds between webhook attempts, comma-separated."
    )
    webhook_concurrency: int = Field(
        16, ge=1, le=256, description="Requests in flight to one webhook endpoint at once (across subjects)."
    )
    webhook_inline_ms: int = Field(
        1000,
        ge=0,
        le=5000,  # it runs inside the activity that wrote the event, whose timeout is 15 s
        description="The first attempt at an event is made by the worker that committed it, before the "
        "action answers, and has this long at most (0: never inline); an endpoint that fails it, or "
        "answers in more than a quarter of it, gets its events from its dispatcher only for a minute.",
    )
    webhook_dispatchers: int = Field(
        1,
        ge=1,
        le=64,
        description="Dispatcher workflows per webhook endpoint (a subject always goes to the same one): "
        "more cut delivery latency under load and cost CPU. Changing it can deliver an event twice.",
    )
    fcm_base_url: str = Field("https://fcm.googleapis.com", description="FCM HTTP v1 API base URL.")
    apns_base_url: str | None = Field(
        None, description="APNs base URL; Apple's hosts by the app's environment."
    )
    apns_ca_file: str | None = Field(None, description="CA bundle to trust for APNs (tests use a local CA).")
    webhook_allow_private: bool = Field(
        False,
        description="Allow private/loopback addresses for every outbound URL: webhooks, push endpoints, "
        "FCM token and send URLs, APNs (tests and `make run`).",
    )
    api_host: str = Field("127.0.0.1", description="Interface the API binds to.")
    api_port: int = Field(8000, description="API port.")
    sandbox_port: int = Field(8100, description="Port of the partner sandbox.")
    options_hold_seconds: int = Field(
        900,
        ge=1,
        le=7 * 24 * 3600,
        description="How long selected fulfilment options hold their plan's stock.",
    )
    change_expires_seconds: int = Field(
        24 * 3600,
        ge=60,
        le=30 * 24 * 3600,
        description="How long a change proposal waits for its decision when it names no "
        "`expiresInSeconds`; then it expires.",
    )
    public_url: str | None = Field(
        None,
        description="The API's base URL as partners reach it (carriers POST their events under it); "
        "`http://<api_host>:<api_port>` when unset.",
    )
    sandbox_webhook_secrets: str = Field(
        "", description="Secrets the sandbox's webhook receiver verifies with."
    )
    temporal_port: int | None = Field(
        None, description="Dev server gRPC port (temporal-dev.yaml when unset)."
    )
    temporal_ui_port: int | None = Field(
        None, description="Dev server UI port (temporal-dev.yaml when unset)."
    )
    bootstrap_api_key: str | None = Field(None, description="The dev tenant's API key; generated when unset.")
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet key(s) for secrets at rest, comma-separated: the first encrypts, every one "
        "decrypts. DATA_DIR/secret-key when unset.",
    )
    live_feed_poll_seconds: float = Field(
        0.1, description="How often a replica looks for new events (SQLite)."
    )
    live_feed_buffer: int = Field(
        1000, description="Events queued per live-feed consumer before it is cut off."
    )
    live_feed_send_timeout_seconds: float = Field(
        10.0, description="A send blocked this long cuts the consumer off."
    )
    live_feed_auth_recheck_seconds: float = Field(
        30.0, gt=0, description="How often an open live-feed connection's API key is checked again."
    )
    live_feed_max_backfill: int = Field(
        10_000, ge=1, description="A resume cursor with more of the tenant's events after it is refused."
    )
    api_timeout_seconds: float = Field(30.0, description="How long the API waits for a worker before 503.")
    auth_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long a replica trusts an API key it has checked: a key revoked through another "
        "replica is refused there within this time (0: every request reads the key).",
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="A request body larger than this is refused with 413, unread."
    )
    max_bulk_body_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="The same for the bulk network writes (PUT /locations, /inventory).",
    )
    log_format: str = Field("pretty", description="`pretty` for development, `json` for production.")
    log_level: str = Field("INFO", description="Log level.")

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret-key"

    def secret_keys(self) -> list[str]:
        """FULFILLMENT_SECRET_KEY's keys, else DATA_DIR/secret-key's (comma- or line-separated); may be []."""
        raw = self.secret_key.get_secret_value() if self.secret_key else ""
        if not raw.strip() and self.secret_key_file.is_file():
            raw = self.secret_key_file.read_text()
        return [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]

    @property
    def worker_queue_names(self) -> set[str]:
        return {q.strip() for q in self.worker_queues.split(",") if q.strip()}

    @property
    def retry_schedule(self) -> list[int]:
        return [int(float(s)) for s in self.webhook_retry_schedule.split(",") if s.strip()]

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # One driver for PostgreSQL: psycopg 3.
            for prefix in ("postgresql://", "postgres://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return f"sqlite:///{(self.data_dir / 'fulfillment.db').resolve()}"
