"""`fulfillment dev`: the whole stack in one terminal, each part a child process.

Children run in their own process group, so Ctrl-C reaches only this supervisor, which stops
them in order (API, worker, then Temporal); they also die with it if it is killed outright.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime

import structlog

from config.settings import Settings
from fulfillment.devserver import DevServerConfig
from sandbox.app import CARRIERS_PATH, OMS_PATH, PARTNER_PATH, RECEIVER_PATH, WMS_PATH
from storage import connectors, push, webhooks
from storage import secrets as at_rest
from storage.engine import make_engine, migrate
from storage.tenants import ensure_tenant_with_key

log = structlog.get_logger(__name__)
DEV_TENANT = "dev"
DEV_CARRIERS = ("swift", "budget")  # the dev tenant's CARRIER connectors: the sandbox's carriers
DEV_CONNECTOR = "sandbox-http"  # the dev tenant's connector to the sandbox's generic HTTP partner
DEV_LOGISTICS = (("oms", "OMS", OMS_PATH), ("wms", "WMS", WMS_PATH))  # its OMS and WMS: the sandbox's
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def _wait_for(what: str, check: callable, timeout: float, procs: list[subprocess.Popen[bytes]]) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a child process exited while waiting for {what}")
        if check():  # type: ignore[misc]
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s")


def bootstrap_key(settings: Settings) -> str:
    """The dev tenant's key: from the environment, else the one kept in the data dir, else a new one."""
    if settings.bootstrap_api_key:
        return settings.bootstrap_api_key
    path = settings.data_dir / "dev-api-key"
    if path.exists():
        return path.read_text().strip()
    key = f"ffk_dev{secrets.token_hex(4)}_{secrets.token_urlsafe(24).replace('_', '-')}"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def secret_keys(settings: Settings) -> str:
    """The keys secrets are encrypted with: from the environment, else the data dir's `secret-key`,
    made (readable by its owner only) on the first run."""
    keys = settings.secret_keys()
    if keys:
        return ",".join(keys)
    key = at_rest.new_key()
    fd = os.open(settings.secret_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def run_dev(settings: Settings) -> int:
    config = DevServerConfig.load()
    fields = settings.model_fields_set
    port = settings.temporal_port or config.port
    ui_port = settings.temporal_ui_port or config.ui_port
    namespace = settings.temporal_namespace if "temporal_namespace" in fields else config.namespace
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ports = (
        ("Temporal", port),
        ("Temporal UI", ui_port),
        ("API", settings.api_port),
        ("sandbox", settings.sandbox_port),
    )
    for name, p in ports:
        if not _port_free(config.ip, p):
            print(
                f"error: port {p} for the {name} is in use; set FULFILLMENT_*_PORT to another",
                file=sys.stderr,
            )
            return 2

    try:
        keys = secret_keys(settings)
        keyring = at_rest.Keyring(keys.split(","))
    except at_rest.SecretKeyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    at_rest.install(keyring)
    env = {
        **os.environ,
        # The API and the worker must encrypt and decrypt with the same keys.
        "FULFILLMENT_SECRET_KEY": keys,
        "FULFILLMENT_DATA_DIR": str(settings.data_dir.resolve()),
        "FULFILLMENT_DATABASE_URL": settings.resolved_database_url,
        "FULFILLMENT_TEMPORAL_ADDRESS": f"{config.ip}:{port}",
        "FULFILLMENT_TEMPORAL_NAMESPACE": namespace,
        "FULFILLMENT_API_PORT": str(settings.api_port),
        "FULFILLMENT_SANDBOX_PORT": str(settings.sandbox_port),
        # The sandbox's partners live on loopback.
        "FULFILLMENT_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        procs.append(proc)
        return proc

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        spawn(config.command(settings.data_dir, port, ui_port, namespace))
        _wait_for("Temporal", lambda: not _port_free(config.ip, port), 60, procs)
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        webhooks.reencrypt(engine, keyring, legacy_only=True)
        push.reencrypt(engine, keyring, legacy_only=True)
        key = bootstrap_key(settings)
        ensure_tenant_with_key(engine, DEV_TENANT, key)
        receiver = f"http://127.0.0.1:{settings.sandbox_port}{RECEIVER_PATH}"
        hook = webhooks.ensure(
            engine, DEV_TENANT, receiver, "the sandbox's webhook receiver", datetime.now(UTC)
        )
        env["FULFILLMENT_SANDBOX_WEBHOOK_SECRETS"] = ",".join(
            webhooks.signing_secrets(hook, datetime.now(UTC))
        )
        partner = connectors.by_name(engine, DEV_TENANT, DEV_CONNECTOR) or connectors.create(
            engine,
            DEV_TENANT,
            DEV_CONNECTOR,
            "HTTP",
            f"http://127.0.0.1:{settings.sandbox_port}{PARTNER_PATH}",
            {"type": "none"},
            datetime.now(UTC),
        )
        sandbox = f"http://127.0.0.1:{settings.sandbox_port}"
        wanted = [
            *((name, kind, f"{sandbox}{path}") for name, kind, path in DEV_LOGISTICS),
            *((c, "CARRIER", f"{sandbox}{CARRIERS_PATH}/{c}") for c in DEV_CARRIERS),
        ]
        logistics = {
            name: connectors.by_name(engine, DEV_TENANT, name)
            or connectors.create(engine, DEV_TENANT, name, kind, base, {"type": "none"}, datetime.now(UTC))
            for name, kind, base in wanted
        }
        engine.dispose()
        cli = [sys.executable, "-m", "fulfillment.cli"]
        spawn([*cli, "sandbox"])
        _wait_for("the sandbox", lambda: _healthy(f"{sandbox}/health"), 30, procs)
        # The sandbox's partners sign their events with their connectors' secrets; the OMS posts
        # them to its connector's URL (carriers learn theirs when a shipment registers a webhook).
        events = f"{settings.resolved_public_url}/partners/{logistics['oms'].id}/events"
        _put(
            f"{sandbox}{OMS_PATH}/config",
            {"eventsUrl": events, "secret": logistics["oms"].inbound_secrets[0]},
        )
        for carrier in DEV_CARRIERS:
            secret = logistics[carrier].inbound_secrets[0]
            _put(f"{sandbox}{CARRIERS_PATH}/{carrier}/config", {"secret": secret})
        spawn([*cli, "worker"])
        spawn([*cli, "api"])
        health = f"http://127.0.0.1:{settings.api_port}/health"
        _wait_for("the API and worker", lambda: _healthy(health), 90, procs)
        print(
            "\nFulfillment stack is up\n"
            f"  API docs     http://127.0.0.1:{settings.api_port}/docs\n"
            f"  Temporal UI  http://{config.ip}:{ui_port}/namespaces/{namespace}/workflows\n"
            f"  Sandbox      http://127.0.0.1:{settings.sandbox_port}/received  (the dev tenant's webhooks)\n"
            f"  Partner      connector {DEV_CONNECTOR!r} ({partner.id}) -> the sandbox's HTTP partner;\n"
            f"               it signs events with {partner.inbound_secrets[0]}\n"
            f"  Logistics    connectors {', '.join(map(repr, logistics))} -> the sandbox's\n"
            f"  Tenant       {DEV_TENANT}\n"
            f"  API key      {key}\n"
            f"  Data         {settings.data_dir.resolve()}\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stopping:
            if any(p.poll() is not None for p in procs):
                log.error("dev.child_exited", codes=[p.returncode for p in procs])
                return 1
            time.sleep(0.2)
        return 0
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        _stop_all(procs)


def _put(url: str, body: dict[str, str]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        if response.status != 200:
            raise RuntimeError(f"configuring the sandbox at {url} answered {response.status}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Newest first (API, worker, sandbox, Temporal): SIGTERM, then SIGKILL what is still there after 15 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
