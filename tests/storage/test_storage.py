"""Storage on both backends (PostgreSQL when reachable): migrations, keys, registry, read models."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain.builtins import WEB_ORDER
from domain.errors import Conflict, NotFound
from domain.session import Revision, SessionChange, SessionView
from storage import events, processes, sessions, tenants, webhooks
from storage.engine import head_revision, migrate, session_scope
from storage.tables import ApiKey


def _tenant(engine: Engine) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    tenants.create_tenant(engine, name)
    return name


def test_migrations_are_idempotent(any_engine: Engine) -> None:
    migrate(any_engine)
    with any_engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


def test_keys_are_stored_hashed_and_checked(any_engine: Engine) -> None:
    tenant = _tenant(any_engine)
    key = tenants.issue_key(any_engine, tenant, ["sessions:read"])
    principal = tenants.authenticate(any_engine, key)
    assert principal is not None and principal.tenant == tenant
    assert principal.allows("sessions:read") and not principal.allows("sessions:write")
    with session_scope(any_engine) as s:
        stored = s.get(ApiKey, principal.key_id)
        assert stored is not None and key not in stored.key_hash and stored.key_hash != key
    assert tenants.authenticate(any_engine, key[:-1] + ("x" if key[-1] != "x" else "y")) is None
    assert tenants.authenticate(any_engine, "not-a-key") is None


def test_tenant_ids_are_unique_and_well_formed(any_engine: Engine) -> None:
    tenant = _tenant(any_engine)
    with pytest.raises(Conflict):
        tenants.create_tenant(any_engine, tenant)
    with pytest.raises(Conflict):
        tenants.create_tenant(any_engine, "Bad Name")


def test_registering_a_type_again_makes_its_next_version(any_engine: Engine) -> None:
    tenant = _tenant(any_engine)
    custom = WEB_ORDER.model_copy(update={"type": "MY_FLOW", "version": None})
    assert processes.register(any_engine, tenant, custom).version == 1
    assert processes.register(any_engine, tenant, custom).version == 2
    assert processes.get(any_engine, tenant, "MY_FLOW").version == 2
    assert processes.get(any_engine, tenant, "MY_FLOW", 1).version == 1
    # A built-in type continues from its version 1.
    assert processes.register(any_engine, tenant, WEB_ORDER).version == 2
    assert processes.get(any_engine, tenant, "WEB_ORDER", 1) == WEB_ORDER
    with pytest.raises(NotFound):
        processes.get(any_engine, tenant, "MY_FLOW", 3)
    # Another tenant sees only the built-ins.
    other = _tenant(any_engine)
    assert {d.type: d.version for d in processes.list_latest(any_engine, other)}["WEB_ORDER"] == 1
    with pytest.raises(NotFound):
        processes.get(any_engine, other, "MY_FLOW")


def test_concurrent_registrations_get_distinct_versions(any_engine: Engine) -> None:
    tenant = _tenant(any_engine)
    custom = WEB_ORDER.model_copy(update={"type": "RACE", "version": None})
    with ThreadPoolExecutor(4) as pool:
        versions = sorted(
            d.version or 0
            for d in pool.map(lambda _: processes.register(any_engine, tenant, custom), range(4))
        )
    assert versions == [1, 2, 3, 4]


def _change(tenant: str, session_id: str, revision: int, status: str, at: datetime) -> SessionChange:
    view = SessionView(
        id=session_id,
        process_type="WEB_ORDER",
        process_version=1,
        cart_id="cart-9",
        reference=None,
        status=status,
        allowed_actions=WEB_ORDER.allowed_actions(status),
        terminal=False,
        revision=revision,
        context={},
        created_at=at,
        updated_at=at + timedelta(seconds=revision),
    )
    rev = Revision(
        tenant=tenant,
        session_id=session_id,
        cart_id="cart-9",
        revision=revision,
        action="x",
        from_=None,
        to=status,
        actor="test",
        at=at + timedelta(seconds=revision),
    )
    return SessionChange(view=view, revision=rev)


def test_recording_is_idempotent_and_never_goes_back(any_engine: Engine) -> None:
    tenant, at = _tenant(any_engine), datetime.now(UTC)
    sessions.record_change(any_engine, _change(tenant, "s1", 0, "CREATED", at))
    sessions.record_change(any_engine, _change(tenant, "s1", 1, "CONFIRMED", at))
    sessions.record_change(any_engine, _change(tenant, "s1", 1, "CONFIRMED", at))  # a retried write
    sessions.record_change(any_engine, _change(tenant, "s1", 0, "CREATED", at))  # a late, older write
    view = sessions.get_view(any_engine, tenant, "s1")
    assert view is not None and view.status == "CONFIRMED" and view.revision == 1
    assert [r.revision for r in sessions.cart_revisions(any_engine, tenant, "cart-9")] == [0, 1]
    assert sessions.get_view(any_engine, _tenant(any_engine), "s1") is None


def test_list_filters_and_pages(any_engine: Engine) -> None:
    tenant, at = _tenant(any_engine), datetime.now(UTC)
    for i in range(5):
        sessions.record_change(
            any_engine, _change(tenant, f"p{i}", 0, "CREATED" if i % 2 else "CONFIRMED", at)
        )
    items, total = sessions.list_sessions(any_engine, tenant, status="CREATED")
    assert total == 2 and {v.id for v in items} == {"p1", "p3"}
    page, total = sessions.list_sessions(any_engine, tenant, limit=2, offset=4)
    assert total == 5 and len(page) == 1


def test_a_delivery_read_before_a_recovery_never_moves_the_subject_past_it(any_engine: Engine) -> None:
    """The race a recovery can meet: an event is read and delivered, `recover` rewinds the subject,
    then the delivery marks the event handled. The rewind wins, so the events are sent again."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    tenants.create_tenant(any_engine, tenant)
    now = datetime.now(UTC)
    hook = webhooks.create(any_engine, tenant, "https://receiver.example/h", [], "", now)
    with session_scope(any_engine) as s:
        for n in (1, 2):
            events.append(s, tenant, "order.created", "subj", {"n": n}, now)
    first = webhooks.pending(any_engine, tenant, hook.id, "subj")
    assert [e.sequence for e in first.events] == [1, 2] and first.rewinds == 0
    with session_scope(any_engine) as s:  # the first one delivered, and marked, before any recovery
        webhooks.mark_handled(s, tenant, hook.id, "subj", 1, first.rewinds)
    second = webhooks.pending(any_engine, tenant, hook.id, "subj")
    assert [e.sequence for e in second.events] == [2]

    rewound = webhooks.rewind(any_engine, tenant, hook.id, now - timedelta(minutes=1), 0, 100)
    assert rewound.first == {"subj": 1}
    with session_scope(any_engine) as s:  # the delivery of 2, read before the rewind, settles after it
        webhooks.mark_handled(s, tenant, hook.id, "subj", 2, second.rewinds)
    again = webhooks.pending(any_engine, tenant, hook.id, "subj")
    assert [e.sequence for e in again.events] == [1, 2] and again.rewinds == 1
    with session_scope(any_engine) as s:  # read after the rewind: it counts
        webhooks.mark_handled(s, tenant, hook.id, "subj", 2, again.rewinds)
    assert webhooks.pending(any_engine, tenant, hook.id, "subj").events == []
