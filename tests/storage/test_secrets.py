"""Secrets at rest on both backends: webhook secrets and push credentials are stored encrypted, decrypt
with a rotated key list, fail clearly under a wrong key, and plaintext from before still reads."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

from config.settings import Settings
from storage import push, tenants, webhooks
from storage.engine import MIGRATIONS, make_engine, migrate
from storage.secrets import Keyring, SecretKeyError, new_key

PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-not-a-real-key\n"


def _tenant(engine: Engine) -> str:
    name = f"x-{uuid.uuid4().hex[:8]}"
    tenants.create_tenant(engine, name)
    return name


def _raw(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).one()


def _credentials() -> dict[str, Any]:
    return {"teamId": "TEAM123456", "keyId": "KEY1234567", "privateKey": PRIVATE_KEY, "topic": "com.x"}


def test_webhook_secrets_are_stored_encrypted(any_engine: Engine) -> None:
    keyring, now = Keyring([new_key()]), datetime.now(UTC)
    tenant = _tenant(any_engine)
    hook = webhooks.create(any_engine, tenant, "https://x.example/h", [], "", now, keyring)
    assert hook.secret.startswith("whsec_")
    (stored,) = _raw(any_engine, "SELECT secret FROM webhooks WHERE id = :id", id=hook.id)
    assert hook.secret not in stored and hook.secret[6:] not in stored and stored.startswith("fernet:")

    rotated = webhooks.rotate_secret(any_engine, tenant, hook.id, now, keyring)
    assert rotated.secret.startswith("whsec_") and rotated.previous_secret == hook.secret
    secret, previous = _raw(
        any_engine, "SELECT secret, previous_secret FROM webhooks WHERE id = :id", id=hook.id
    )
    assert rotated.secret not in secret and hook.secret not in previous
    found = webhooks.find(any_engine, tenant, hook.id, keyring)
    assert found is not None and webhooks.signing_secrets(found, now) == [rotated.secret, hook.secret]


def test_push_credentials_are_stored_encrypted(any_engine: Engine) -> None:
    keyring = Keyring([new_key()])
    tenant = _tenant(any_engine)
    app = push.create_application(
        any_engine, tenant, "apns", "app", _credentials(), datetime.now(UTC), keyring
    )
    (stored,) = _raw(any_engine, "SELECT credentials FROM push_applications WHERE id = :id", id=app.id)
    stored_text = stored if isinstance(stored, str) else json.dumps(stored)
    assert "not-a-real-key" not in stored_text and "TEAM123456" not in stored_text
    assert push.get_application(any_engine, tenant, app.id, keyring).credentials == _credentials()


def test_a_rotated_key_list_decrypts_and_rotate_moves_everything_to_the_first_key(
    any_engine: Engine,
) -> None:
    old, new = new_key(), new_key()
    tenant, now = _tenant(any_engine), datetime.now(UTC)
    hook = webhooks.create(any_engine, tenant, "https://x.example/r", [], "", now, Keyring([old]))
    app = push.create_application(any_engine, tenant, "apns", "a", _credentials(), now, Keyring([old]))

    both = Keyring([new, old])  # the new key first: it encrypts, both decrypt
    assert webhooks.get(any_engine, tenant, hook.id, both).secret == hook.secret
    assert push.get_application(any_engine, tenant, app.id, both).credentials == _credentials()

    hooks, apps = webhooks.reencrypt(any_engine, both), push.reencrypt(any_engine, both)
    # Other tests' rows on this database use other keys: they are named, not rewritten.
    assert f"webhook {hook.id} of tenant {tenant}" not in hooks.undecryptable and hooks.count >= 1
    assert f"push application {app.id} of tenant {tenant}" not in apps.undecryptable and apps.count >= 1

    only_new = Keyring([new])  # the old key dropped after the rotation
    assert webhooks.get(any_engine, tenant, hook.id, only_new).secret == hook.secret
    assert push.get_application(any_engine, tenant, app.id, only_new).credentials == _credentials()
    with pytest.raises(SecretKeyError):
        webhooks.get(any_engine, tenant, hook.id, Keyring([old]))


def test_a_wrong_key_is_a_clear_error(any_engine: Engine) -> None:
    tenant, now = _tenant(any_engine), datetime.now(UTC)
    hook = webhooks.create(any_engine, tenant, "https://x.example/w", [], "", now, Keyring([new_key()]))
    app = push.create_application(any_engine, tenant, "apns", "a", _credentials(), now, Keyring([new_key()]))
    wrong = Keyring([new_key()])
    with pytest.raises(SecretKeyError, match="cannot be decrypted with any key in FULFILLMENT_SECRET_KEY"):
        webhooks.get(any_engine, tenant, hook.id, wrong)
    with pytest.raises(SecretKeyError, match="cannot be decrypted with any key in FULFILLMENT_SECRET_KEY"):
        push.get_application(any_engine, tenant, app.id, wrong)
    with pytest.raises(SecretKeyError, match="key 2 of 2 is not a Fernet key"):
        Keyring([new_key(), "hunter2"])
    with pytest.raises(SecretKeyError, match="no secret key: set FULFILLMENT_SECRET_KEY"):
        Keyring([])


def test_plaintext_from_before_encryption_reads_and_is_sealed(any_engine: Engine) -> None:
    keyring, now = Keyring([new_key()]), datetime.now(UTC)
    tenant = _tenant(any_engine)
    hook = webhooks.create(any_engine, tenant, "https://x.example/l", [], "", now, keyring)
    app = push.create_application(any_engine, tenant, "apns", "a", _credentials(), now, keyring)
    legacy = "whsec_" + "A" * 32
    with any_engine.begin() as conn:  # rows as the code before encryption wrote them
        conn.execute(text("UPDATE webhooks SET secret = :s WHERE id = :id"), {"s": legacy, "id": hook.id})
        conn.execute(
            text("UPDATE push_applications SET credentials = :c WHERE id = :id"),
            {"c": json.dumps(_credentials()), "id": app.id},
        )
    assert webhooks.get(any_engine, tenant, hook.id, keyring).secret == legacy
    assert push.get_application(any_engine, tenant, app.id, keyring).credentials == _credentials()

    assert webhooks.reencrypt(any_engine, keyring, legacy_only=True).count >= 1
    assert push.reencrypt(any_engine, keyring, legacy_only=True).count >= 1
    (secret,) = _raw(any_engine, "SELECT secret FROM webhooks WHERE id = :id", id=hook.id)
    (stored,) = _raw(any_engine, "SELECT credentials FROM push_applications WHERE id = :id", id=app.id)
    assert legacy not in secret and "not-a-real-key" not in (
        stored if isinstance(stored, str) else json.dumps(stored)
    )
    assert webhooks.get(any_engine, tenant, hook.id, keyring).secret == legacy
    assert push.get_application(any_engine, tenant, app.id, keyring).credentials == _credentials()
    # Sealed already: a second pass at start rewrites nothing of these.
    assert webhooks.reencrypt(any_engine, keyring, legacy_only=True).count == 0


def test_keys_come_from_the_variable_or_the_data_dir(tmp_path: Path) -> None:
    one, two = new_key(), new_key()
    assert Settings(data_dir=tmp_path, secret_key=f"{one}, {two}").secret_keys() == [one, two]
    assert Settings(data_dir=tmp_path, secret_key=None).secret_keys() == []
    (tmp_path / "secret-key").write_text(f"{two}\n")
    assert Settings(data_dir=tmp_path, secret_key=None).secret_keys() == [two]


def test_migration_keeps_push_access_for_keys_that_had_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        conn.execute(text("INSERT INTO tenants VALUES ('t', 't', '2026-01-01 00:00:00')"))
        for key_id, scopes in (("a", ["webhooks:read", "webhooks:write"]), ("b", ["sessions:read"])):
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, tenant_id, key_hash, scopes, label, created_at) "
                    "VALUES (:id, 't', 'h', :scopes, '', '2026-01-01 00:00:00')"
                ),
                {"id": key_id, "scopes": json.dumps(scopes)},
            )
    migrate(engine)
    with engine.connect() as conn:
        stored: dict[str, str] = dict(conn.execute(text("SELECT id, scopes FROM api_keys")).all())
    engine.dispose()
    assert json.loads(stored["a"]) == ["webhooks:read", "webhooks:write", "push:read", "push:write"]
    assert json.loads(stored["b"]) == ["sessions:read"]
