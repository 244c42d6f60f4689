"""Connectors in storage on both backends: credentials and inbound secrets encrypted at rest, names
unique per tenant, rotation with an overlap, deletion that keeps the partner logs, and
`fulfillment secrets rotate` moving connectors to the first key."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from domain.errors import Conflict, NotFound
from storage import connectors, tenants
from storage.engine import make_engine, migrate, session_scope
from storage.secrets import Keyring, SecretKeyError, new_key
from storage.tables import PartnerCallRow, PartnerEventRow
from storage.webhooks import ROTATION_OVERLAP
from tests.support import run_cli

TOKEN = "tok-" + "s3cr3t" * 8
PASSWORD = "pa55-w0rd-that-must-not-leak"


def _tenant(engine: Engine) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    tenants.create_tenant(engine, name)
    return name


def _raw(engine: Engine, connector_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT auth, inbound_secret, previous_inbound_secret, headers FROM connectors WHERE id = :id"
            ),
            {"id": connector_id},
        ).one()


def _text(stored: Any) -> str:
    return stored if isinstance(stored, str) else json.dumps(stored)


def _bearer(engine: Engine, tenant: str, name: str, keyring: Keyring, **kw: Any) -> connectors.Connector:
    return connectors.create(
        engine,
        tenant,
        name,
        "OMS",
        "https://oms.example/api",
        {"type": "bearer", "token": TOKEN},
        datetime.now(UTC),
        keyring=keyring,
        **kw,
    )


def test_credentials_and_inbound_secret_are_stored_encrypted(any_engine: Engine) -> None:
    keyring, tenant = Keyring([new_key()]), _tenant(any_engine)
    made = _bearer(any_engine, tenant, "oms", keyring, timeout_seconds=5, headers={"X-Shop": "7"})
    assert made.id.startswith("con_") and made.tenant == tenant
    assert made.auth == {"type": "bearer", "token": TOKEN}
    assert len(made.inbound_secrets) == 1 and made.inbound_secrets[0].startswith("whsec_")
    assert made.timeout_seconds == 5 and made.headers == {"X-Shop": "7"}

    auth, inbound, previous, headers = _raw(any_engine, made.id)
    auth_text = _text(auth)
    assert TOKEN not in auth_text and "bearer" not in auth_text and "fernet:" in auth_text
    assert inbound.startswith("fernet:") and made.inbound_secrets[0] not in inbound
    assert previous is None
    assert json.loads(_text(headers)) == {"X-Shop": "7"}

    found = connectors.get(any_engine, tenant, made.id, keyring)
    assert found == made
    assert connectors.by_name(any_engine, tenant, "oms", keyring) == made
    assert connectors.find_any_tenant(any_engine, made.id, keyring) == made
    assert connectors.names(any_engine, tenant) == {"oms"}
    with pytest.raises(SecretKeyError):  # a wrong key is an error, never mistaken for plaintext
        connectors.get(any_engine, tenant, made.id, Keyring([new_key()]))


def test_basic_and_standard_webhooks_credentials(any_engine: Engine) -> None:
    keyring, tenant, now = Keyring([new_key()]), _tenant(any_engine), datetime.now(UTC)
    basic = connectors.create(
        any_engine,
        tenant,
        "wms",
        "WMS",
        "https://wms.example",
        {"type": "basic", "username": "shop", "password": PASSWORD},
        now,
        keyring=keyring,
    )
    assert PASSWORD not in _text(_raw(any_engine, basic.id)[0])
    signed = connectors.create(
        any_engine, tenant, "carrier", "CARRIER", "https://c.example", {"type": "standard-webhooks"}, now,
        keyring=keyring,
    )  # fmt: skip
    secret = signed.auth["secret"]
    assert secret.startswith("whsec_") and secret not in signed.inbound_secrets  # two different secrets
    assert secret not in _text(_raw(any_engine, signed.id)[0])
    assert connectors.get(any_engine, tenant, signed.id, keyring).auth == {  # type: ignore[union-attr]
        "type": "standard-webhooks",
        "secret": secret,
    }


def test_names_are_unique_per_tenant(any_engine: Engine) -> None:
    keyring, tenant, other = Keyring([new_key()]), _tenant(any_engine), _tenant(any_engine)
    first = _bearer(any_engine, tenant, "oms", keyring)
    with pytest.raises(Conflict) as taken:
        _bearer(any_engine, tenant, "oms", keyring)
    assert taken.value.errors[0].field == "name" and taken.value.errors[0].code == "CONNECTOR_NAME_TAKEN"
    _bearer(any_engine, other, "oms", keyring)  # another tenant may use the name
    second = _bearer(any_engine, tenant, "wms", keyring)
    now = datetime.now(UTC)
    with pytest.raises(Conflict) as renamed:
        connectors.update(any_engine, tenant, second.id, {"name": "oms"}, now, keyring)
    assert renamed.value.errors[0].field == "name"
    # Keeping its own name is no conflict.
    assert connectors.update(any_engine, tenant, first.id, {"name": "oms"}, now, keyring).name == "oms"
    assert connectors.names(any_engine, tenant) == {"oms", "wms"}


def test_update_changes_only_what_is_given_and_replaces_auth_whole(any_engine: Engine) -> None:
    keyring, tenant = Keyring([new_key()]), _tenant(any_engine)
    made = _bearer(any_engine, tenant, "oms", keyring, headers={"X-A": "1"})
    later = datetime.now(UTC) + timedelta(minutes=1)
    changed = connectors.update(
        any_engine,
        tenant,
        made.id,
        {"auth": {"type": "basic", "username": "u", "password": "p"}, "timeout_seconds": 30},
        later,
        keyring,
    )
    assert changed.auth == {"type": "basic", "username": "u", "password": "p"}  # no token left over
    assert changed.timeout_seconds == 30
    assert (changed.name, changed.base_url, changed.headers, changed.kind) == (
        "oms",
        "https://oms.example/api",
        {"X-A": "1"},
        "OMS",
    )
    assert changed.inbound_secrets == made.inbound_secrets  # not rotated by an update
    stored = connectors.get(any_engine, tenant, made.id, keyring)
    assert stored is not None and stored.updated_at is not None and stored.created_at is not None
    assert stored.updated_at > stored.created_at
    assert "p" not in json.loads(_text(_raw(any_engine, made.id)[0]))  # still sealed
    other = _tenant(any_engine)
    with pytest.raises(NotFound):
        connectors.update(any_engine, other, made.id, {"timeout_seconds": 1}, later, keyring)
    assert connectors.get(any_engine, other, made.id, keyring) is None
    assert connectors.by_name(any_engine, other, "oms", keyring) is None


def test_rotation_keeps_the_previous_inbound_secret_for_the_overlap(any_engine: Engine) -> None:
    keyring, tenant = Keyring([new_key()]), _tenant(any_engine)
    made = _bearer(any_engine, tenant, "oms", keyring)
    now = datetime.now(UTC)
    rotated = connectors.rotate_secret(any_engine, tenant, made.id, now, keyring)
    old = made.inbound_secrets[0]
    assert rotated.inbound_secrets[0] != old and rotated.inbound_secrets == [rotated.inbound_secrets[0], old]
    assert rotated.previous_inbound_secret_expires_at == now + ROTATION_OVERLAP
    _, inbound, previous, _ = _raw(any_engine, made.id)
    assert old not in previous and previous.startswith("fernet:") and inbound.startswith("fernet:")
    during = now + ROTATION_OVERLAP - timedelta(minutes=1)
    after = now + ROTATION_OVERLAP + timedelta(minutes=1)
    assert connectors.find_any_tenant(any_engine, made.id, keyring, during).inbound_secrets[1] == old  # type: ignore[union-attr]
    late = connectors.get(any_engine, tenant, made.id, keyring, after)
    assert late is not None and late.inbound_secrets == [rotated.inbound_secrets[0]]
    with pytest.raises(NotFound):
        connectors.rotate_secret(any_engine, _tenant(any_engine), made.id, now, keyring)


def test_delete_keeps_partner_events_and_calls(any_engine: Engine) -> None:
    keyring, tenant, now = Keyring([new_key()]), _tenant(any_engine), datetime.now(UTC)
    made = _bearer(any_engine, tenant, "oms", keyring)
    with session_scope(any_engine) as s:
        s.add(
            PartnerEventRow(
                tenant_id=tenant,
                connector_id=made.id,
                message_id="msg_1",
                type="shipment.created",
                data={"n": 1},
                received_at=now,
            )
        )
        s.add(
            PartnerCallRow(
                tenant_id=tenant,
                session_id="ses_x",
                connector="oms",
                step="SUBMITTED.steps[0]",
                idempotency_key="k",
                attempt=1,
                method="POST",
                url="https://oms.example/api/orders",
                outcome="delivered",
                duration_ms=5,
                at=now,
            )
        )
    with pytest.raises(NotFound):
        connectors.delete(any_engine, _tenant(any_engine), made.id)  # another tenant's: not found
    connectors.delete(any_engine, tenant, made.id)
    assert connectors.get(any_engine, tenant, made.id, keyring) is None
    assert connectors.find_any_tenant(any_engine, made.id, keyring) is None
    with pytest.raises(NotFound):
        connectors.delete(any_engine, tenant, made.id)
    with any_engine.connect() as conn:
        events = conn.execute(
            text("SELECT count(*) FROM partner_events WHERE connector_id = :c"), {"c": made.id}
        ).scalar()
        calls = conn.execute(
            text("SELECT count(*) FROM partner_calls WHERE tenant_id = :t"), {"t": tenant}
        ).scalar()
    assert (events, calls) == (1, 1)
    # The name is free again.
    assert _bearer(any_engine, tenant, "oms", keyring).name == "oms"


def test_list_pages_in_creation_order(any_engine: Engine) -> None:
    keyring, tenant = Keyring([new_key()]), _tenant(any_engine)
    start = datetime.now(UTC)
    for n in range(3):
        connectors.create(
            any_engine, tenant, f"c{n}", "HTTP", "https://x.example", {"type": "none"},
            start + timedelta(seconds=n), keyring=keyring,
        )  # fmt: skip
    assert [c.name for c in connectors.list_all(any_engine, tenant, 2, 0, keyring)] == ["c0", "c1"]
    assert [c.name for c in connectors.list_all(any_engine, tenant, 2, 2, keyring)] == ["c2"]
    assert connectors.list_all(any_engine, _tenant(any_engine), 10, 0, keyring) == []


def test_reencrypt_moves_connectors_to_the_first_key(any_engine: Engine) -> None:
    old, new = new_key(), new_key()
    tenant = _tenant(any_engine)
    made = _bearer(any_engine, tenant, "oms", Keyring([old]))
    connectors.rotate_secret(any_engine, tenant, made.id, datetime.now(UTC), Keyring([old]))
    before = _raw(any_engine, made.id)

    done = connectors.reencrypt(any_engine, Keyring([new, old]))
    assert done.count >= 1 and f"connector {made.id} of tenant {tenant}" not in done.undecryptable
    after = _raw(any_engine, made.id)
    assert all(a != b for a, b in zip(before[:3], after[:3], strict=True))  # auth and both secrets
    only_new = connectors.get(any_engine, tenant, made.id, Keyring([new]))
    assert only_new is not None and only_new.auth["token"] == TOKEN and len(only_new.inbound_secrets) == 2
    with pytest.raises(SecretKeyError):
        connectors.get(any_engine, tenant, made.id, Keyring([old]))
    # Rows of other tests under other keys are named, not rewritten.
    stranger = _bearer(any_engine, tenant, "other", Keyring([new_key()]))
    assert (
        f"connector {stranger.id} of tenant {tenant}"
        in connectors.reencrypt(any_engine, Keyring([new])).undecryptable
    )


def test_plaintext_rows_are_sealed(any_engine: Engine) -> None:
    keyring, tenant = Keyring([new_key()]), _tenant(any_engine)
    made = _bearer(any_engine, tenant, "oms", keyring)
    with any_engine.begin() as conn:  # a row as it would be without encryption
        conn.execute(
            text("UPDATE connectors SET auth = :a, inbound_secret = :s WHERE id = :id"),
            {"a": json.dumps({"type": "bearer", "token": TOKEN}), "s": "whsec_plain", "id": made.id},
        )
    assert connectors.reencrypt(any_engine, keyring, legacy_only=True).count >= 1
    auth, inbound, _, _ = _raw(any_engine, made.id)
    assert TOKEN not in _text(auth) and inbound.startswith("fernet:")
    found = connectors.get(any_engine, tenant, made.id, keyring)
    assert found is not None and found.auth["token"] == TOKEN and found.inbound_secrets == ["whsec_plain"]


async def test_secrets_rotate_command_reencrypts_connectors(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    url = f"sqlite:///{tmp_path / 'rotate.db'}"
    engine = make_engine(url)
    migrate(engine)
    tenant = _tenant(engine)
    made = _bearer(engine, tenant, "oms", Keyring([old]))
    before = _raw(engine, made.id)
    env = {
        "FULFILLMENT_DATABASE_URL": url,
        "FULFILLMENT_SECRET_KEY": f"{new},{old}",
        "FULFILLMENT_DATA_DIR": str(tmp_path),
        "PATH": str(Path(sys.executable).parent),
    }
    code, out = await run_cli(env, "secrets", "rotate")
    assert code == 0 and "1 connector(s)" in out, out
    after = _raw(engine, made.id)
    assert before[0] != after[0] and before[1] != after[1]
    rotated = connectors.get(engine, tenant, made.id, Keyring([new]))
    assert rotated is not None and rotated.auth["token"] == TOKEN
    assert rotated.inbound_secrets == made.inbound_secrets
    engine.dispose()
