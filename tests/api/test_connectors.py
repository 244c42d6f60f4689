"""Connectors over the API: secrets shown once and stored encrypted, names unique, every refusal
naming its field, base URLs guarded, PATCH semantics, rotation, deletion and tenant isolation."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from config.settings import Settings
from storage import connectors
from storage.webhooks import ROTATION_OVERLAP
from tests.support import ApiClient

TOKEN = "tok-" + "Zq9" * 20


def body(name: str = "oms", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "OMS",
        "baseUrl": "https://oms.example/api",
        "auth": {"type": "bearer", "token": TOKEN},
        **extra,
    }


def whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


async def refused(api: ApiClient, method: str, path: str, sent: Any) -> tuple[str | None, str]:
    """The field and code of a 400's first error."""
    reply = await api.call(method, path, sent)
    assert reply.status == 400, (method, path, sent, reply.status, reply.body)
    error = reply.body["errors"][0]
    return error["field"], error["code"]


async def test_create_shows_the_secrets_once_and_never_the_credentials(
    api: ApiClient, engine: Engine
) -> None:
    made = await api.ok("POST", "/connectors", body(timeoutSeconds=2.5, headers={"X-Shop": "7"}), 201)
    assert made["id"].startswith("con_") and made["inboundSecret"].startswith("whsec_")
    assert made["auth"] == {"type": "bearer"}  # the token is never echoed
    assert made["timeoutSeconds"] == 2.5 and made["headers"] == {"X-Shop": "7"} and made["kind"] == "OMS"
    assert made["previousInboundSecretExpiresAt"] is None

    shown = await api.ok("GET", f"/connectors/{made['id']}")
    assert "inboundSecret" not in shown and TOKEN not in json.dumps(shown)
    assert shown["auth"] == {"type": "bearer"} and shown["name"] == "oms"
    listed = await api.ok("GET", "/connectors")
    assert [c["id"] for c in listed] == [made["id"]] and "inboundSecret" not in listed[0]

    # At rest: nothing of the token or the inbound secret in plaintext.
    with engine.connect() as conn:
        auth, inbound = conn.execute(
            text("SELECT auth, inbound_secret FROM connectors WHERE id = :id"), {"id": made["id"]}
        ).one()
    stored = auth if isinstance(auth, str) else json.dumps(auth)
    assert TOKEN not in stored and "fernet:" in stored
    assert made["inboundSecret"] not in inbound and inbound.startswith("fernet:")
    # What the rest of the code reads: decrypted.
    connector = connectors.get(engine, api.tenant, made["id"])
    assert connector is not None and connector.auth == {"type": "bearer", "token": TOKEN}
    assert connector.inbound_secrets == [made["inboundSecret"]]


async def test_auth_types(api: ApiClient, engine: Engine) -> None:
    basic = await api.ok(
        "POST",
        "/connectors",
        body("wms", auth={"type": "basic", "username": "shop", "password": "pw-9"}),
        201,
    )
    assert basic["auth"] == {"type": "basic", "username": "shop"}
    assert (await api.ok("GET", f"/connectors/{basic['id']}"))["auth"] == {
        "type": "basic",
        "username": "shop",
    }

    generated = await api.ok("POST", "/connectors", body("dhl", auth={"type": "standard-webhooks"}), 201)
    secret = generated["auth"]["secret"]
    assert secret.startswith("whsec_") and secret != generated["inboundSecret"]
    assert (await api.ok("GET", f"/connectors/{generated['id']}"))["auth"] == {"type": "standard-webhooks"}
    stored = connectors.get(engine, api.tenant, generated["id"])
    assert stored is not None and stored.auth == {"type": "standard-webhooks", "secret": secret}

    given = whsec()
    signed = await api.ok(
        "POST", "/connectors", body("ups", auth={"type": "standard-webhooks", "secret": given}), 201
    )
    assert signed["auth"]["secret"] == given
    none = await api.ok("POST", "/connectors", body("scale", kind="DEVICE", auth={"type": "none"}), 201)
    assert none["auth"] == {"type": "none"} and none["timeoutSeconds"] == 10 and none["headers"] == {}


async def test_names_are_unique_per_tenant(api: ApiClient, make_tenant: Callable[..., ApiClient]) -> None:
    await api.ok("POST", "/connectors", body("oms"), 201)
    taken = await api.post("/connectors", body("oms"))
    assert taken.status == 409 and taken.body["errors"][0]["field"] == "name"
    assert taken.body["errors"][0]["code"] == "CONNECTOR_NAME_TAKEN"
    other = await api.ok("POST", "/connectors", body("wms"), 201)
    renamed = await api.call("PATCH", f"/connectors/{other['id']}", {"name": "oms"})
    assert renamed.status == 409 and renamed.body["errors"][0]["field"] == "name"
    await make_tenant().ok("POST", "/connectors", body("oms"), 201)  # another tenant's name space


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "FTP"}, "kind"),
        ({"name": "Bad Name"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"baseUrl": "ftp://oms.example"}, "baseUrl"),
        ({"auth": {"type": "magic"}}, "auth.type"),
        ({"auth": {}}, "auth.type"),
        ({"auth": "bearer"}, "auth"),
        ({"auth": {"type": "bearer"}}, "auth.token"),
        ({"auth": {"type": "bearer", "token": ""}}, "auth.token"),
        ({"auth": {"type": "bearer", "token": "t", "extra": 1}}, "auth.extra"),
        ({"auth": {"type": "basic", "password": "p"}}, "auth.username"),
        ({"auth": {"type": "basic", "username": "u", "password": "p" * 1001}}, "auth.password"),
        ({"auth": {"type": "standard-webhooks", "secret": "whsec_short"}}, "auth.secret"),
        ({"auth": {"type": "standard-webhooks", "secret": "sk_" + "A" * 40}}, "auth.secret"),
        ({"auth": {"type": "standard-webhooks", "secret": "whsec_" + "!" * 32}}, "auth.secret"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": -1}, "timeoutSeconds"),
        ({"timeoutSeconds": 60.5}, "timeoutSeconds"),
        ({"timeoutSeconds": "soon"}, "timeoutSeconds"),
        ({"headers": {"Authorization": "Bearer x"}}, "headers.Authorization"),
        ({"headers": {"host": "evil.example"}}, "headers.host"),
        ({"headers": {"Content-Length": "1"}}, "headers.Content-Length"),
        ({"headers": {"Idempotency-Key": "k"}}, "headers.Idempotency-Key"),
        ({"headers": {"Webhook-Signature": "v1,x"}}, "headers.Webhook-Signature"),
        ({"headers": {"X-A": "one\r\nX-B: two"}}, "headers.X-A"),
        ({"headers": {"X-A": "v" * 1001}}, "headers.X-A"),
        ({"headers": {"X-A": "trailing\n"}}, "headers.X-A"),
        ({"headers": {"X-A\n": "v"}}, "headers.X-A\n"),
        ({"headers": {"Bad Name": "v"}}, "headers.Bad Name"),
        ({"headers": {"X-A": 5}}, "headers.X-A"),
        ({"headers": {f"X-{n}": "v" for n in range(21)}}, "headers"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, "headers.x-a"),
        ({"baseUrl": "https://oms.example/api?key=1"}, "baseUrl"),
        ({"baseUrl": "https://oms.example/api#top"}, "baseUrl"),
        ({"auth": {"type": "bearer", "token": "abc\nX-Evil: 1"}}, "auth.token"),
        ({"auth": {"type": "bearer", "token": "two words"}}, "auth.token"),
        ({"auth": {"type": "basic", "username": "a:b", "password": "p"}}, "auth.username"),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "headers.Transfer-Encoding"),
        ({"headers": {"content-type": "text/plain"}}, "headers.content-type"),
        ({"headers": {"Connection": "close"}}, "headers.Connection"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    api: ApiClient, change: dict[str, Any], field: str
) -> None:
    assert (await refused(api, "POST", "/connectors", body(**change)))[0] == field
    made = await api.ok("POST", "/connectors", body(f"patch-{uuid.uuid4().hex[:6]}"), 201)
    assert (await refused(api, "PATCH", f"/connectors/{made['id']}", change))[0] == field
    assert (await api.ok("GET", f"/connectors/{made['id']}"))["auth"] == {"type": "bearer"}  # unchanged


async def test_missing_fields_are_named(api: ApiClient) -> None:
    for left_out in ("name", "kind", "baseUrl", "auth"):
        sent = {k: v for k, v in body().items() if k != left_out}
        assert (await refused(api, "POST", "/connectors", sent))[0] == left_out


async def test_private_base_urls_are_refused_unless_allowed(
    api: ApiClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = await api.ok("POST", "/connectors", body("local", baseUrl="http://127.0.0.1:9/x"), 201)
    monkeypatch.setattr(settings, "webhook_allow_private", False)  # what the API process reads
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/api", "http://localhost/x"):
        field, code = await refused(api, "POST", "/connectors", body("private", baseUrl=url))
        assert (field, code) == ("baseUrl", "UNSAFE_URL"), url
        field, code = await refused(api, "PATCH", f"/connectors/{allowed['id']}", {"baseUrl": url})
        assert (field, code) == ("baseUrl", "UNSAFE_URL"), url
    # A host that does not resolve (yet) is taken, as for webhooks: every call checks again.
    await api.ok("POST", "/connectors", body("later", baseUrl="https://nowhere.invalid/x"), 201)
    assert (await api.ok("GET", f"/connectors/{allowed['id']}"))["baseUrl"] == "http://127.0.0.1:9/x"


async def test_patch_changes_only_what_is_sent(api: ApiClient, engine: Engine) -> None:
    made = await api.ok("POST", "/connectors", body(headers={"X-A": "1"}), 201)
    path = f"/connectors/{made['id']}"
    changed = await api.ok("PATCH", path, {"timeoutSeconds": 30, "kind": "WMS"})
    assert (changed["timeoutSeconds"], changed["kind"]) == (30, "WMS")
    assert (changed["name"], changed["baseUrl"], changed["headers"], changed["auth"]) == (
        "oms",
        "https://oms.example/api",
        {"X-A": "1"},
        {"type": "bearer"},
    )
    assert changed["updatedAt"] > made["updatedAt"] and changed["createdAt"] == made["createdAt"]
    for null in ("name", "kind", "baseUrl", "auth", "timeoutSeconds", "headers"):
        assert (await refused(api, "PATCH", path, {null: None}))[0] == null
    assert (await refused(api, "PATCH", path, {"secret": "x"}))[0] == "secret"  # no such field

    # auth is replaced whole: no token is left behind a basic auth.
    basic = await api.ok("PATCH", path, {"auth": {"type": "basic", "username": "u", "password": ""}})
    assert basic["auth"] == {"type": "basic", "username": "u"}
    stored = connectors.get(engine, api.tenant, made["id"])
    assert stored is not None and stored.auth == {"type": "basic", "username": "u", "password": ""}
    # A standard-webhooks auth without a secret gets one, shown in this answer only.
    signed = await api.ok("PATCH", path, {"auth": {"type": "standard-webhooks"}})
    assert signed["auth"]["secret"].startswith("whsec_")
    assert (await api.ok("GET", path))["auth"] == {"type": "standard-webhooks"}
    assert (await api.ok("PATCH", path, {"headers": {}}))["headers"] == {}
    renamed = await api.ok("PATCH", path, {"name": "oms-2", "baseUrl": "https://oms2.example"})
    assert (renamed["name"], renamed["baseUrl"]) == ("oms-2", "https://oms2.example")
    assert connectors.names(engine, api.tenant) == {"oms-2"}
    # The inbound secret is not touched by a PATCH.
    assert connectors.get(engine, api.tenant, made["id"]).inbound_secrets == [made["inboundSecret"]]  # type: ignore[union-attr]


async def test_rotate_keeps_the_previous_secret_for_the_overlap(api: ApiClient, engine: Engine) -> None:
    made = await api.ok("POST", "/connectors", body(), 201)
    before = datetime.now(UTC)
    rotated = await api.ok("POST", f"/connectors/{made['id']}/rotate_secret")
    new, old = rotated["inboundSecret"], made["inboundSecret"]
    assert new.startswith("whsec_") and new != old and rotated["auth"] == {"type": "bearer"}
    expires = datetime.fromisoformat(rotated["previousInboundSecretExpiresAt"])
    assert before + ROTATION_OVERLAP <= expires <= datetime.now(UTC) + ROTATION_OVERLAP
    assert "inboundSecret" not in await api.ok("GET", f"/connectors/{made['id']}")
    connector = connectors.find_any_tenant(engine, made["id"])
    assert connector is not None and connector.inbound_secrets == [new, old]
    later = connectors.get(engine, api.tenant, made["id"], now=expires + timedelta(seconds=1))
    assert later is not None and later.inbound_secrets == [new]


async def test_delete_then_404(api: ApiClient) -> None:
    made = await api.ok("POST", "/connectors", body(), 201)
    assert (await api.call("DELETE", f"/connectors/{made['id']}")).status == 204
    for method, path in [
        ("GET", f"/connectors/{made['id']}"),
        ("PATCH", f"/connectors/{made['id']}"),
        ("DELETE", f"/connectors/{made['id']}"),
        ("POST", f"/connectors/{made['id']}/rotate_secret"),
    ]:
        reply = await api.call(method, path, {"kind": "HTTP"} if method == "PATCH" else None)
        assert reply.status == 404 and reply.body["errors"][0]["code"] == "CONNECTOR_NOT_FOUND", (
            method,
            path,
        )
    assert await api.ok("GET", "/connectors") == []
    await api.ok("POST", "/connectors", body(), 201)  # the name is free again


async def test_another_tenant_gets_404_everywhere(
    api: ApiClient, make_tenant: Callable[..., ApiClient], engine: Engine
) -> None:
    made = await api.ok("POST", "/connectors", body(), 201)
    stranger = make_tenant(["admin"])
    spec = await api.ok("GET", "/openapi.json")
    checked = 0
    for path, operations in spec["paths"].items():
        if not path.startswith("/connectors/{connector_id}"):
            continue
        for method in operations:
            sent = {"name": "taken-over"} if method == "patch" else None
            reply = await stranger.call(method.upper(), path.replace("{connector_id}", made["id"]), sent)
            assert reply.status == 404, (method, path, reply.status, reply.body)
            checked += 1
    assert checked == 4
    assert await stranger.ok("GET", "/connectors") == []
    mine = await api.ok("GET", f"/connectors/{made['id']}")
    assert mine["name"] == "oms" and mine["updatedAt"] == made["updatedAt"]
    assert connectors.get(engine, api.tenant, made["id"]).inbound_secrets == [made["inboundSecret"]]  # type: ignore[union-attr]


async def test_scopes(make_tenant: Callable[..., ApiClient]) -> None:
    reader = make_tenant(["connectors:read"])
    assert (await reader.get("/connectors")).status == 200
    denied = await reader.post("/connectors", body())
    assert denied.status == 403 and denied.body["required_scope"] == "connectors:write"
    nobody = make_tenant(["sessions:read"])
    assert (await nobody.get("/connectors")).status == 403


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(api: ApiClient) -> None:
    key = {"Idempotency-Key": f"con-{uuid.uuid4().hex}"}
    first = await api.call("POST", "/connectors", body(), key)
    again = await api.call("POST", "/connectors", body(), key)
    assert first.status == again.status == 201
    assert again.body["id"] == first.body["id"] and again.body["inboundSecret"] == first.body["inboundSecret"]
    assert len(await api.ok("GET", "/connectors")) == 1


async def test_a_connector_a_process_calls_keeps_its_name(api: ApiClient) -> None:
    made = await api.ok("POST", "/connectors", body("used"), 201)
    step = {"kind": "call", "connector": "used", "path": "/x", "onSuccess": "done", "onFailure": "done"}
    process = {
        "type": "USES_IT",
        "states": [{"name": "A", "steps": [step]}, {"name": "B"}],
        "initialState": "A",
        "terminalStates": ["B"],
        "transitions": [{"from": "A", "action": "done", "to": "B"}],
    }
    await api.ok("POST", "/processes", process, 201)
    deleted = await api.call("DELETE", f"/connectors/{made['id']}")
    assert deleted.status == 409 and deleted.body["processes"] == ["USES_IT"]
    renamed = await api.call("PATCH", f"/connectors/{made['id']}", {"name": "other"})
    assert renamed.status == 409 and renamed.body["errors"][0]["field"] == "name"
    await api.ok("PATCH", f"/connectors/{made['id']}", {"timeoutSeconds": 5})  # other changes are fine
    await api.ok("POST", "/processes", {**process, "states": [{"name": "A"}, {"name": "B"}]}, 201)  # v2
    await api.ok("DELETE", f"/connectors/{made['id']}", status=204)
