"""The OpenAPI schema tells the truth: schemathesis (a third-party fuzzer) runs every operation through
its examples, coverage and fuzzing phases and finds no server error, no status, header, content type
or body the schema does not describe, no auth that is ignored, and no operation that refuses most of
what its schema allows (the `validation_mismatch` warning fails the run).

Two checks are left out, for reasons no schema can carry: `positive_data_acceptance` would have every
schema-valid body accepted, but some rules are about the world, not the shape (a PEM key that must
parse, a pickup location that must exist, `since` at most 30 days back, a replayed Idempotency-Key
with another body); `negative_data_rejection` would refuse JSON `false` for `0`, which pydantic's lax
mode accepts on purpose.

The fuzzed stack is one of its own: its worker runs no notifications queue, so the webhooks and push
devices the fuzzer registers (at whatever URLs it invents) are never called. `make fuzz
FUZZ_EXAMPLES=200` runs a larger, randomly seeded round.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
from sqlalchemy.engine import Engine
from temporalio.client import Client

from config.settings import Settings
from storage import tenants
from tests.support import ApiClient, free_port, serving
from workers.worker import running_workers

EXAMPLES = int(os.environ.get("FULFILLMENT_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("FULFILLMENT_FUZZ_SEED", "20261128")  # "random" for a new seed each run
# Warnings that mean the schema and the API disagree (or the run could not get past auth).
FAIL_ON = ["validation_mismatch", "missing_auth", "unsupported_regex", "unresolvable_reference"]
# not_a_server_error: 503 is a documented answer (Temporal or a worker away; pricing with no carrier
# answering, and the carriers the fuzzer registers point nowhere). A 500 still fails: no operation
# documents it, so status_code_conformance refuses it.
LEFT_OUT = "positive_data_acceptance,negative_data_rejection,not_a_server_error"
# Operations whose generated bodies are all refused for rules about the world that a schema cannot
# state: credentials are keys that must parse; a process definition must be a connected graph; an
# action must be one the session's current state allows; a device names an application that exists
# and takes its kind of address. The other warnings still apply to them.
SEMANTIC = [
    ("POST", "/applications"),
    ("POST", "/processes"),
    ("POST", "/sessions/{session_id}/actions"),
    ("POST", "/device_tokens"),
]


async def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(
    temporal_client: Client,
    engine: Engine,
    settings: Settings,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    make_tenant: Callable[..., ApiClient],
) -> None:
    isolated = settings.model_copy(
        update={
            "task_queue": "fuzz-sessions",
            "notifications_task_queue": "fuzz-notifications-nobody-polls",
            "worker_queues": "sessions",
            "api_port": free_port(),
            "api_timeout_seconds": 5,
        }
    )
    tenant = make_tenant(["admin"]).tenant
    key = tenants.issue_key(engine, tenant, ["admin"], "fuzz")
    # The fuzzer may revoke a key by id: give it one to revoke that is not the one it uses.
    throwaway = tenants.issue_key(engine, tenant, ["sessions:read"], "revoke me").split("_")[1]
    async with running_workers(temporal_client, engine, isolated), serving(isolated) as url:
        api = ApiClient(http, url, key, tenant)
        known = await _resources(api) | {"key_id": throwaway}
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(known))
        args = [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            LEFT_OUT,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(EXAMPLES),
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "-H",
            f"Authorization: Bearer {key}",
            # A partner's event is signed with the connector's secret, which no generated request has:
            # every answer would be a 401 (tests/end_to_end/test_partner_steps.py sends signed ones).
            "--exclude-operation-id",
            "receive_event_partners__connector_id__events_post",
        ]
        if SEED != "random":
            args += ["--seed", SEED]
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
    report = out.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(report)
    summary = report[report.rfind("SUMMARY") :] if "SUMMARY" in report else report[-3000:]
    print(summary)  # operations, cases generated, failures: shown with -s, and on failure
    whole = f"{report[-20000:]}\n(whole report: {tmp_path / 'schemathesis.txt'})"
    tested = re.search(r"Tested: (\d+)", summary)
    assert tested and int(tested.group(1)) >= 55, whole  # every operation, not a subset
    assert "Failures:" not in summary, whole  # no check failed: no 5xx, nothing undocumented
    warned = re.findall(r"⚠️ ([^:]+):", summary)
    assert set(warned) <= {"Missing test data"}, whole  # no schema mismatch, auth ok
    # The run's exit code also counts crashes inside the fuzzer itself (a Hypothesis internal error,
    # "inconsistent results" between a case's runs): those are shown here, not failures of the API.
    errors = re.findall(r"🚫 ([^:]+): (\d+)", summary)
    assert all(kind == "Runtime Error" for kind, _ in errors), whole
    assert proc.returncode == 0 or errors, whole


async def _resources(api: ApiClient) -> dict[str, str]:
    """Real resources, so operations on an id reach their logic instead of answering 404 only."""
    await api.ok(
        "PUT",
        "/locations",
        {"locations": [{"ref": "FUZZ-WH", "type": "WAREHOUSE", "latitude": 52.0, "longitude": 5.0}]},
    )
    await api.ok(
        "PUT", "/inventory", {"positions": [{"locationRef": "FUZZ-WH", "skuRef": "S1", "onHand": 5}]}
    )
    session = await api.new_session(cart_id="fuzz-cart")
    hook = await api.ok("POST", "/webhooks", {"url": "http://127.0.0.1:9/never-called"}, 201)
    doomed = await api.ok("POST", "/webhooks", {"url": "http://127.0.0.1:9/to-delete"}, 201)
    connector = await api.ok(
        "POST",
        "/connectors",
        {"name": "fuzz", "kind": "HTTP", "baseUrl": "http://127.0.0.1:9/partner", "auth": {"type": "none"}},
        201,
    )
    order = await api.ok(
        "POST",
        "/api/orders",
        {
            "tenantOrderId": "FUZZ-1",
            "orderLineItems": [{"article": {"tenantArticleId": "S1"}, "quantity": 1}],
        },
    )
    return {
        "session_id": session["id"],
        "cart_id": "fuzz-cart",
        "webhook_id": hook["id"],
        "doomed_webhook_id": doomed["id"],
        "connector_id": connector["id"],
        "order_id": order["id"],
        "ref": "FUZZ-WH",
        "process_type": "WEB_ORDER",
    }


def _config(known: dict[str, str]) -> str:
    # One event of a live-feed stream (the `subscribed` it opens with) is enough to check it.
    lines = [
        "max-stream-events = 1",
        "",
        "[warnings]",
        f"fail-on = {json.dumps(FAIL_ON)}",
        "",
        "[parameters]",
    ]
    doomed = known.pop("doomed_webhook_id")
    lines += [f'"path.{name}" = {json.dumps(value)}' for name, value in known.items()]
    # Deleting the webhook the other operations use would leave them only 404s: it deletes another.
    lines += ["", "[[operations]]", 'include-method = "DELETE"', 'include-path = "/webhooks/{webhook_id}"']
    lines += [f'parameters = {{ "path.webhook_id" = {json.dumps(doomed)} }}']
    for method, path in SEMANTIC:
        lines += ["", "[[operations]]", f'include-method = "{method}"', f'include-path = "{path}"']
        kept = json.dumps([w for w in FAIL_ON if w != "validation_mismatch"])
        lines += [f"warnings = {{ display = {kept}, fail-on = {kept} }}"]
    return "\n".join(lines) + "\n"
