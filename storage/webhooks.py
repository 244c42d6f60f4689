"""Webhook subscriptions, their per-subject delivery progress and their attempts log.

Signing secrets are stored encrypted (`storage/secrets.py`); the rows this module hands out carry them
in plaintext, as detached copies that are never written back."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from domain.events import EndpointDisabledData, Event, WebhookTestData, wanted_by
from storage import events
from storage import secrets as at_rest
from storage.engine import fetch, prepared, session_scope
from storage.secrets import Keyring
from storage.tables import EventRow, WebhookAttemptRow, WebhookProgressRow, WebhookRow

ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _get(s: Session, tenant: str, webhook_id: str) -> WebhookRow:
    return fetch(s, WebhookRow, (tenant, webhook_id), "WEBHOOK_NOT_FOUND", "webhook")


def _plain(row: WebhookRow, keyring: Keyring | None = None) -> WebhookRow:
    """A detached copy of a stored row with its secrets decrypted."""
    keyring = keyring or at_rest.current()
    previous = keyring.decrypt(row.previous_secret) if row.previous_secret else None
    return WebhookRow(
        **{**row.model_dump(), "secret": keyring.decrypt(row.secret), "previous_secret": previous}
    )


def create(
    engine: Engine,
    tenant: str,
    url: str,
    event_types: list[str],
    description: str,
    now: datetime,
    keyring: Keyring | None = None,
) -> WebhookRow:
    """A new subscription; it receives events appended from now on (replay older ones with recover)."""
    keyring = keyring or at_rest.current()
    secret = new_secret()
    row = WebhookRow(
        tenant_id=tenant,
        id="wh_" + uuid.uuid4().hex[:20],
        url=url,
        description=description,
        event_types=event_types,
        secret=keyring.encrypt(secret),
        start_cursor=events.last_cursor(engine),
        created_at=now,
        updated_at=now,
    )
    with session_scope(engine) as s:
        s.add(row)
    return WebhookRow(**{**row.model_dump(), "secret": secret})


def ensure(
    engine: Engine, tenant: str, url: str, description: str, now: datetime, keyring: Keyring | None = None
) -> WebhookRow:
    """The tenant's webhook for `url`, created when there is none (used to wire up the dev stack)."""
    with session_scope(engine) as s:
        found = s.exec(
            select(WebhookRow).where(WebhookRow.tenant_id == tenant, WebhookRow.url == url)
        ).first()
    return _plain(found, keyring) if found else create(engine, tenant, url, [], description, now, keyring)


def get(engine: Engine, tenant: str, webhook_id: str, keyring: Keyring | None = None) -> WebhookRow:
    with session_scope(engine) as s:
        row = _get(s, tenant, webhook_id)
    return _plain(row, keyring)


def find(engine: Engine, tenant: str, webhook_id: str, keyring: Keyring | None = None) -> WebhookRow | None:
    with session_scope(engine) as s:
        row = s.get(WebhookRow, (tenant, webhook_id))
    return _plain(row, keyring) if row else None


def list_all(engine: Engine, tenant: str, limit: int, offset: int) -> list[WebhookRow]:
    with session_scope(engine) as s:
        rows = s.exec(
            select(WebhookRow)
            .where(WebhookRow.tenant_id == tenant)
            .order_by(col(WebhookRow.created_at), col(WebhookRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
    return [_plain(r) for r in rows]


def update(
    engine: Engine, tenant: str, webhook_id: str, changes: dict[str, object], now: datetime
) -> WebhookRow:
    """Change url, eventTypes, description or enabled; enabling again clears the failure state."""
    with session_scope(engine) as s:
        row = _get(s, tenant, webhook_id)
        for name, value in changes.items():
            setattr(row, name, value)
        if changes.get("enabled") is True:
            row.disabled_reason, row.disabled_at, row.failing_since = None, None, None
        row.updated_at = now
    return _plain(row)


def delete(engine: Engine, tenant: str, webhook_id: str) -> None:
    with session_scope(engine) as s:
        s.delete(_get(s, tenant, webhook_id))
        for progress in s.exec(
            select(WebhookProgressRow).where(
                WebhookProgressRow.tenant_id == tenant, WebhookProgressRow.webhook_id == webhook_id
            )
        ):
            s.delete(progress)


def rotate_secret(
    engine: Engine, tenant: str, webhook_id: str, now: datetime, keyring: Keyring | None = None
) -> WebhookRow:
    keyring = keyring or at_rest.current()
    with session_scope(engine) as s:
        row = _get(s, tenant, webhook_id)
        row.previous_secret, row.previous_secret_expires_at = keyring.seal(row.secret), now + ROTATION_OVERLAP
        row.secret, row.updated_at = keyring.encrypt(new_secret()), now
    return _plain(row, keyring)


def reencrypt(engine: Engine, keyring: Keyring, legacy_only: bool = False) -> at_rest.Rewritten:
    """Encrypt every webhook's secrets under the keyring's first key, or with `legacy_only` just those
    stored in plaintext before encryption. A row no key decrypts is left as it is and named."""
    with session_scope(engine) as s:
        stored = s.exec(
            select(WebhookRow.tenant_id, WebhookRow.id, WebhookRow.secret, WebhookRow.previous_secret)
        ).all()
    todo = [
        (tenant, webhook_id)
        for tenant, webhook_id, secret, previous in stored
        if not legacy_only or not all(keyring.is_encrypted(v) for v in (secret, previous) if v)
    ]
    change = keyring.seal if legacy_only else keyring.rewrap

    def rewrite(row: WebhookRow) -> None:  # both or neither: a failing second leaves the first as it was
        secret = change(row.secret)
        previous = change(row.previous_secret) if row.previous_secret else None
        row.secret, row.previous_secret = secret, previous

    return at_rest.rewrite_each(engine, WebhookRow, todo, rewrite, "webhook")


def signing_secrets(row: WebhookRow, now: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    previous = row.previous_secret
    expires = row.previous_secret_expires_at
    if previous and expires and aware(expires) > now:
        return [row.secret, previous]
    return [row.secret]


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Pending:
    enabled: bool
    events: list[Event]
    more: bool = False  # the read stopped at `limit`
    rewinds: int = 0  # the subject's recoveries when read: its delivery marks it handled only if unchanged


WEBHOOKS = WebhookRow.__table__  # type: ignore[attr-defined]
PROGRESS = WebhookProgressRow.__table__  # type: ignore[attr-defined]
EVENTS = EventRow.__table__  # type: ignore[attr-defined]
ATTEMPTS = WebhookAttemptRow.__table__  # type: ignore[attr-defined]

# Core statements, not the ORM: these run for every delivery attempt.
_ENDPOINT = (
    sa_select(*WEBHOOKS.c, PROGRESS.c.last_sequence, PROGRESS.c.rewinds)
    .select_from(
        WEBHOOKS.outerjoin(
            PROGRESS,
            and_(
                PROGRESS.c.tenant_id == WEBHOOKS.c.tenant_id,
                PROGRESS.c.webhook_id == WEBHOOKS.c.id,
                PROGRESS.c.subject == bindparam("subject"),
            ),
        )
    )
    .where(WEBHOOKS.c.tenant_id == bindparam("tenant"), WEBHOOKS.c.id == bindparam("webhook"))
)
_AFTER = (
    sa_select(EVENTS)
    .where(
        EVENTS.c.tenant_id == bindparam("tenant"),
        EVENTS.c.subject == bindparam("subject"),
        EVENTS.c.sequence > bindparam("after"),
        EVENTS.c.cursor > bindparam("start"),
    )
    .order_by(EVENTS.c.sequence)
    .limit(bindparam("batch"))
)


def pending(engine: Engine, tenant: str, webhook_id: str, subject: str, limit: int = 50) -> Pending:
    """Up to `limit` of the subject's events this webhook takes and has not handled, in sequence order.

    Events of types it does not take are passed over (never marked), however many come first.
    """
    return next_up(engine, [Wanted(tenant, webhook_id, subject)], limit)[0].pending


@dataclass(frozen=True)
class Wanted:
    tenant: str
    webhook_id: str
    subject: str
    # The event just committed, when the caller has it: if the subject has nothing before it, it
    # is the first pending one without reading the log.
    newest: Event | None = None


@dataclass(frozen=True)
class NextUp:
    hook: WebhookRow | None  # a detached copy, secrets decrypted; None when gone or disabled
    pending: Pending


def next_up(
    engine: Engine, wanted: list[Wanted], limit: int = 2, keyring: Keyring | None = None
) -> list[NextUp]:
    """For each subject of a webhook: the endpoint and up to `limit` of the subject's pending events,
    all in one connection (the attempts in flight in a worker read together)."""
    hooks: dict[tuple[str, str], WebhookRow] = {}
    found: list[NextUp] = []
    with engine.connect() as conn:
        for w in wanted:
            row = conn.execute(_ENDPOINT, {"tenant": w.tenant, "webhook": w.webhook_id, "subject": w.subject})
            endpoint = row.first()
            if endpoint is None or not endpoint.enabled:
                found.append(NextUp(None, Pending(False, [])))
                continue
            if (w.tenant, w.webhook_id) not in hooks:
                fields = {k: v for k, v in endpoint._mapping.items() if k not in ("last_sequence", "rewinds")}
                hooks[w.tenant, w.webhook_id] = _plain(WebhookRow(**fields), keyring)
            hook, after = hooks[w.tenant, w.webhook_id], endpoint.last_sequence or 0
            rewinds, newest = endpoint.rewinds or 0, w.newest
            if newest is not None and after == newest.sequence - 1 and newest.cursor > hook.start_cursor:
                found.append(NextUp(hook, Pending(True, [newest], rewinds=rewinds)))
            else:
                pending = _pending_after(conn, hook, w.subject, after, limit)
                found.append(NextUp(hook, replace(pending, rewinds=rewinds)))
    return found


def _pending_after(conn: Connection, hook: WebhookRow, subject: str, after: int, limit: int) -> Pending:
    wanted: list[Event] = []
    batch = max(limit, 100)  # rows per read, so a long run of events it does not take costs few reads
    while True:
        rows = conn.execute(
            _AFTER,
            {
                "tenant": hook.tenant_id,
                "subject": subject,
                "after": after,
                "start": hook.start_cursor,
                "batch": batch,
            },
        ).all()
        for stored in rows:
            event = events.to_event(stored)  # type: ignore[arg-type]
            if wanted_by(event.type, event.subject, hook.id, hook.event_types):
                wanted.append(event)
            if len(wanted) == limit:
                return Pending(True, wanted, more=True)
        if len(rows) < batch:
            return Pending(True, wanted)
        after = rows[-1].sequence


def _advance(insert: Any, checked: bool) -> Any:
    """A subject's progress moved to a handled sequence, never back; `checked`: only if no recovery
    rewound it since the delivery read it."""
    statement = insert(PROGRESS)
    where = PROGRESS.c.last_sequence < statement.excluded.last_sequence
    return statement.on_conflict_do_update(
        index_elements=["tenant_id", "webhook_id", "subject"],
        set_={"last_sequence": statement.excluded.last_sequence},
        where=and_(where, PROGRESS.c.rewinds == bindparam("read_rewinds")) if checked else where,
    )


_ADVANCE = prepared(lambda insert: _advance(insert, checked=False))
_ADVANCE_CHECKED = prepared(lambda insert: _advance(insert, checked=True))


def mark_handled(
    s: Session, tenant: str, webhook_id: str, subject: str, sequence: int, rewinds: int | None = None
) -> None:
    """The subject's events up to `sequence` are handled for the webhook. `rewinds`: the subject's
    recoveries when the delivery read the event; a recovery since then wins (None: not checked,
    for deliveries of release 0.2 that did not read it)."""
    conn = s.connection()
    values = {"tenant_id": tenant, "webhook_id": webhook_id, "subject": subject, "last_sequence": sequence}
    if rewinds is None:
        conn.execute(_ADVANCE(conn), values)
    else:
        conn.execute(_ADVANCE_CHECKED(conn), {**values, "read_rewinds": rewinds})


def endpoint_state(s: Session, tenant: str, webhook_id: str) -> tuple[bool, datetime | None] | None:
    """(enabled, failing_since) of a webhook, or None when it is gone."""
    row = (
        s.connection()
        .execute(
            sa_select(WEBHOOKS.c.enabled, WEBHOOKS.c.failing_since).where(
                WEBHOOKS.c.tenant_id == tenant, WEBHOOKS.c.id == webhook_id
            )
        )
        .first()
    )
    return None if row is None else (bool(row.enabled), row.failing_since)


def set_failing_since(s: Session, tenant: str, webhook_id: str, since: datetime | None) -> None:
    s.connection().execute(
        WEBHOOKS.update()
        .where(WEBHOOKS.c.tenant_id == tenant, WEBHOOKS.c.id == webhook_id)
        .values(failing_since=since)
    )


def log_attempt(s: Session, attempt: dict[str, Any]) -> None:
    s.connection().execute(ATTEMPTS.insert(), attempt)


def disable_now(s: Session, tenant: str, webhook_id: str, reason: str, now: datetime) -> Event:
    """`disable` in a transaction of Core statements: flushed at once, so that the reads that follow
    in it (other attempts settled together) see the endpoint disabled."""
    event = disable(s, _get(s, tenant, webhook_id), reason, now)
    s.flush()
    return event


def disable(s: Session, row: WebhookRow, reason: str, now: datetime) -> Event:
    """Disable the endpoint and append `endpoint.disabled` in the same transaction."""
    row.enabled, row.disabled_reason, row.disabled_at, row.updated_at = False, reason, now, now
    data = EndpointDisabledData(webhook_id=row.id, url=row.url, reason=reason)
    return events.append(s, row.tenant_id, "endpoint.disabled", row.id, data.model_dump(mode="json"), now)


def append_test_event(engine: Engine, tenant: str, webhook_id: str, now: datetime) -> Event:
    with session_scope(engine) as s:
        _get(s, tenant, webhook_id)
        data = WebhookTestData(webhook_id=webhook_id, message="This is a test event.")
        return events.append(s, tenant, "webhook.test", webhook_id, data.model_dump(mode="json"), now)


@dataclass(frozen=True)
class Rewound:
    first: dict[str, int]  # per subject, the first sequence made pending again
    events: int  # events looked at
    next_cursor: int | None  # None: every event since `since` was covered; else go on after this cursor


def rewind(engine: Engine, tenant: str, webhook_id: str, since: datetime, after: int, limit: int) -> Rewound:
    """Make the events since `since` (and after cursor `after`) pending again for this webhook, at
    most `limit` of them per call, oldest first: a busy tenant's month is recovered in steps."""
    with session_scope(engine) as s:
        row = _get(s, tenant, webhook_id)
        rows = s.exec(
            select(EventRow.subject, EventRow.sequence, EventRow.type, EventRow.cursor)
            .where(
                EventRow.tenant_id == tenant,
                col(EventRow.occurred_at) >= since,
                col(EventRow.cursor) > max(row.start_cursor, after),
            )
            .order_by(col(EventRow.cursor))
            .limit(limit + 1)
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        first: dict[str, int] = {}
        for subject, sequence, type_, _ in rows:
            if wanted_by(type_, subject, webhook_id, row.event_types):
                first[subject] = min(first.get(subject, sequence), sequence)
        for subject, sequence in first.items():
            progress = s.get(WebhookProgressRow, (tenant, webhook_id, subject))
            if progress is None:  # a delivery in flight that read no row reads rewinds 0: it loses
                s.add(
                    WebhookProgressRow(
                        tenant_id=tenant,
                        webhook_id=webhook_id,
                        subject=subject,
                        last_sequence=sequence - 1,
                        rewinds=1,
                    )
                )
            else:
                progress.last_sequence = min(progress.last_sequence, sequence - 1)
                progress.rewinds += 1
    return Rewound(first, len(rows), rows[-1][3] if more else None)


def attempts(
    engine: Engine, tenant: str, webhook_id: str, limit: int = 100, offset: int = 0
) -> list[WebhookAttemptRow]:
    with session_scope(engine) as s:
        _get(s, tenant, webhook_id)
        return list(
            s.exec(
                select(WebhookAttemptRow)
                .where(WebhookAttemptRow.tenant_id == tenant, WebhookAttemptRow.webhook_id == webhook_id)
                .order_by(col(WebhookAttemptRow.id).desc())
                .offset(offset)
                .limit(limit)
            )
        )
