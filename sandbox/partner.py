"""A generic HTTP partner: what a tenant's connector calls, with scripted answers and idempotency.

Any request under its prefix (but its control routes) is a partner endpoint: it is recorded and
answered, once per `Idempotency-Key` (a repeated key gets the first successful answer again, recorded
as a replay). A script gives a path's next answers (failures, `Retry-After`, answers held open until
released); `send` signs an event the way a partner would and posts it to the orchestrator.
docs/partners.md is its contract.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from domain.signing import sign
from sandbox.faults import Faults

TOLERANCE_SECONDS = 300
CONTROL = frozenset({"script", "release", "calls", "config", "send"})  # reserved paths under the prefix
RECORDED_HEADERS = (
    "idempotency-key",
    "authorization",
    "content-type",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "user-agent",
)
EXCERPT = 2000  # characters of a non-JSON body, or of the orchestrator's answer to `send`
MAX_HOLD_MS = 600_000
MAX_WAIT_MS = 60_000
SEND_TIMEOUT = 30.0
RELEASE_WAIT = 10.0  # seconds `release` waits for the released requests to be answered


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # JSON; None sends no body
    headers: dict[str, str] = field(default_factory=dict)

    def response(self, replay: bool = False) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict(self.headers)
        if replay:
            headers["Idempotent-Replayed"] = "true"
        if self.body is None or self.status in (204, 304):
            return web.Response(status=self.status, headers=headers)
        headers.setdefault("Content-Type", "application/json")
        return web.Response(status=self.status, body=json.dumps(self.body).encode(), headers=headers)


@dataclass(frozen=True)
class Scripted:
    status: int
    body: Any
    has_body: bool  # False: the default answer's body (2xx) or an error naming the status
    headers: dict[str, str]
    hold: bool  # held open until `release`
    hold_ms: int  # held this long before the answer


@dataclass
class _Held:
    go: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Expect:
    """The auth the partner insists on (`none`: it takes any request)."""

    kind: str = "none"  # none | bearer | basic | standard-webhooks
    bearer: str = ""
    basic: tuple[str, str] = ("", "")
    secret: str = ""

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Expect:
        """`{}`, `{"bearer": …}`, `{"basic": [user, password]}` or `{"standardWebhooksSecret": "whsec_…"}`."""
        given = [k for k in ("bearer", "basic", "standardWebhooksSecret") if k in body]
        unknown = sorted(set(body) - {"bearer", "basic", "standardWebhooksSecret"})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]}; give one of bearer, basic, standardWebhooksSecret")
        if len(given) > 1:
            raise ValueError("give at most one of bearer, basic, standardWebhooksSecret")
        if not given:
            return cls()
        value = body[given[0]]
        if given[0] == "bearer":
            if not isinstance(value, str) or not value:
                raise ValueError("bearer must be a non-empty string")
            return cls("bearer", bearer=value)
        if given[0] == "basic":
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
                raise ValueError("basic must be [user, password]")
            return cls("basic", basic=(value[0], value[1]))
        if not isinstance(value, str) or not valid_secret(value):
            raise ValueError("standardWebhooksSecret must be a whsec_ string")
        return cls("standard-webhooks", secret=value)

    def check(self, headers: Any, body: bytes) -> str | None:
        """Why the request's auth is refused, or None when it passes."""
        scheme, _, credentials = headers.get("Authorization", "").partition(" ")
        if self.kind == "bearer":
            ok = scheme.lower() == "bearer" and hmac.compare_digest(
                credentials.encode(), self.bearer.encode()
            )
            return None if ok else "missing or wrong bearer token"
        if self.kind == "basic":
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            ok = scheme.lower() == "basic" and hmac.compare_digest(credentials.encode(), expected.encode())
            return None if ok else "missing or wrong basic credentials"
        if self.kind == "standard-webhooks":
            return signature_problem(self.secret, headers, body)
        return None


def signature_problem(secret: str, headers: Any, body: bytes) -> str | None:
    """Why a Standard Webhooks signature does not verify with `secret`, or None when it does."""
    message_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "").split()
    if not (message_id and stamp.isdigit() and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
        return "timestamp outside the 5 minute tolerance"
    expected = sign(secret, message_id, int(stamp), body)
    if any(hmac.compare_digest(expected, s) for s in signatures):
        return None
    return "no signature matches the secret"


def valid_secret(secret: str) -> bool:
    if not secret.startswith("whsec_"):
        return False
    try:
        base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return value


def _path(value: Any, name: str = "path") -> str:
    if not isinstance(value, str) or not value.strip("/"):
        raise ValueError(f"{name} must be a path such as /outbound-orders")
    return value if value.startswith("/") else "/" + value


def _scripted(raw: Any, index: int, hold_ms: int) -> Scripted:
    where = f"responses[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    status = raw.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise ValueError(f"{where}.status must be a whole number from 200 to 599")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError(f"{where}.headers must be an object of strings")
    hold = raw.get("hold", False)
    if not isinstance(hold, bool):
        raise ValueError(f"{where}.hold must be true or false")
    own_hold_ms = _int(raw, "holdMs", hold_ms, 0, MAX_HOLD_MS) if "holdMs" in raw else hold_ms
    return Scripted(status, raw.get("body"), "body" in raw, dict(headers), hold, own_hold_ms)


class HttpPartner:
    """One partner system, all its state in memory: recorded calls, scripts, idempotency memory."""

    def __init__(self, keep: int = 1000) -> None:
        self.calls: deque[dict[str, Any]] = deque(maxlen=keep)
        self.scripts: dict[str, deque[Scripted]] = {}
        self.answers: dict[tuple[str, str, str], Answer] = {}  # (method, path, key) → first success
        self.expect = Expect()
        self.faults = Faults()
        self._held: list[_Held] = []
        self._recorded = asyncio.Condition()
        self._seq = 0

    # The partner's endpoints.

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        if path.strip("/") in CONTROL:
            return web.json_response(
                {"error": f"{path} is a control route of the sandbox partner, not for {request.method}"},
                status=405,
            )
        raw = await request.read()
        self._seq += 1
        key = request.headers.get("Idempotency-Key")
        record: dict[str, Any] = {
            "seq": self._seq,
            "receivedAt": time.time(),
            "method": request.method,
            "path": path,
            "query": request.query_string,
            "idempotencyKey": key,
            "headers": {h: request.headers[h] for h in RECORDED_HEADERS if h in request.headers},
            "body": None,
            "status": None,
            "answer": None,
            "replay": False,
            "fault": False,
            "auth": None,
            "held": False,
        }
        failure = await self.faults.apply()
        if failure is not None:
            record["fault"] = True
            return await self._record(record, Answer(failure.status, json.loads(failure.text or "null")))
        if raw:
            try:
                record["body"] = json.loads(raw)
            except ValueError:
                record["bodyText"] = raw[:EXCERPT].decode(errors="replace")
        if self.expect.kind != "none":
            why = self.expect.check(request.headers, raw)
            record["auth"] = {"expected": self.expect.kind, "ok": why is None, "why": why}
            if why is not None:
                return await self._record(record, Answer(401, {"error": why}))
        if "bodyText" in record:
            return await self._record(record, Answer(400, {"error": "the body is not JSON"}))
        stored = self.answers.get((request.method, path, key)) if key else None
        if stored is not None:
            record["replay"] = True
            return await self._record(record, stored, replay=True)
        queue = self.scripts.get(path)
        step = queue.popleft() if queue else None
        if queue is not None and not queue:
            del self.scripts[path]
        answer = self._answer(step, key, record)
        if key and 200 <= answer.status < 300:
            self.answers[(request.method, path, key)] = answer  # the effect happened, held or not
        if step is None or not (step.hold or step.hold_ms):
            return await self._record(record, answer)
        record["held"] = True
        response = await self._record(record, answer)
        held = _Held()
        try:
            if step.hold:
                self._held.append(held)
                await held.go.wait()
            else:
                await asyncio.sleep(step.hold_ms / 1000)
            return await self._answer_late(request, response, record)
        except asyncio.CancelledError:  # only when the server cancels handlers of clients that left
            record["clientGone"] = True
            raise
        finally:
            held.done.set()
            if held in self._held:
                self._held.remove(held)

    @staticmethod
    def _answer(step: Scripted | None, key: str | None, record: dict[str, Any]) -> Answer:
        """The scripted answer, else the default: an id stable for the key (else the call's number)."""
        stable = "ext_" + hashlib.sha256(key.encode()).hexdigest()[:20] if key else f"ext_{record['seq']}"
        default = {"id": stable, "received": record["body"]}
        if step is None:
            return Answer(200, default)
        if step.has_body:
            return Answer(step.status, step.body, step.headers)
        filler = default if step.status < 300 else {"error": f"scripted {step.status}"}
        return Answer(step.status, filler, step.headers)

    async def _record(self, record: dict[str, Any], answer: Answer, replay: bool = False) -> web.Response:
        record["status"] = answer.status
        record["answer"] = None if answer.status in (204, 304) else answer.body
        async with self._recorded:
            self.calls.append(record)
            self._recorded.notify_all()
        return answer.response(replay)

    @staticmethod
    async def _answer_late(
        request: web.Request, response: web.Response, record: dict[str, Any]
    ) -> web.Response:
        """Answer a held request now; a client that left meanwhile is noted, not an error."""
        try:
            await response.prepare(request)
            await response.write_eof()
            record["clientGone"] = False
        except ConnectionError:
            record["clientGone"] = True
        record["answeredAt"] = time.time()
        return response

    # Control routes.

    async def script(self, request: web.Request) -> web.Response:
        """`{path, responses: [{status, body?, headers?, hold?, holdMs?}], holdMs?}`: the next answers."""
        try:
            body = await json_object(request)
            path = _path(body.get("path"))
            responses = body.get("responses")
            if not isinstance(responses, list) or not 1 <= len(responses) <= 1000:
                raise ValueError("responses must be a list of 1 to 1000 answers")
            hold_ms = _int(body, "holdMs", 0, 0, MAX_HOLD_MS)
            steps = [_scripted(r, i, hold_ms) for i, r in enumerate(responses)]
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        self.scripts[path] = deque(steps)
        return web.json_response({"path": path, "pending": len(steps)}, status=201)

    async def release(self, _: web.Request) -> web.Response:
        """Answer every held request; return once each was answered (or its client found gone)."""
        return web.json_response({"released": await self._release_all(wait=True)})

    async def _release_all(self, wait: bool) -> int:
        held, self._held = self._held, []
        for h in held:
            h.go.set()
        if wait and held:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RELEASE_WAIT):
                    await asyncio.gather(*(h.done.wait() for h in held))
        return len(held)

    async def on_shutdown(self, _: web.Application) -> None:
        """Let held requests go, so the server does not wait out its shutdown timeout for them."""
        await self._release_all(wait=False)

    async def list_calls(self, request: web.Request) -> web.Response:
        """Oldest first; `?path=` one path's; `?atLeast=N&waitMs=M` waits up to M ms for N of them."""
        try:
            path = _path(request.query["path"]) if "path" in request.query else None
            query: dict[str, Any] = {}
            for name in ("atLeast", "waitMs"):
                if name in request.query:
                    if not request.query[name].isdigit():
                        raise ValueError(f"{name} must be a whole number")
                    query[name] = int(request.query[name])
            at_least = _int(query, "atLeast", 0, 0, 100_000)
            wait_ms = _int(query, "waitMs", 0, 0, MAX_WAIT_MS)
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)

        def matching() -> list[dict[str, Any]]:
            return [c for c in self.calls if path is None or c["path"] == path]

        if wait_ms and len(matching()) < at_least:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_ms / 1000), self._recorded:
                    await self._recorded.wait_for(lambda: len(matching()) >= at_least)
        return web.json_response(matching())

    async def clear(self, _: web.Request) -> web.Response:
        """Forget calls, scripts and idempotency keys; let held requests go."""
        cleared = len(self.calls)
        self.calls.clear()
        self.scripts.clear()
        self.answers.clear()
        return web.json_response({"cleared": cleared, "released": await self._release_all(wait=True)})

    async def get_config(self, _: web.Request) -> web.Response:
        return web.json_response({"auth": self.expect.kind})

    async def set_config(self, request: web.Request) -> web.Response:
        """Replace the auth expected of every request (`{}`: none)."""
        try:
            self.expect = Expect.parse(await json_object(request))
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"auth": self.expect.kind})

    async def send(self, request: web.Request) -> web.Response:
        """Sign an event as the partner would and POST it: `{url, secret, type, reference?, data?,
        messageId?, timestamp?, badSignature?}` → `{status, body, messageId}` (the orchestrator's answer)."""
        try:
            body = await json_object(request)
            url, secret, type_ = body.get("url"), body.get("secret"), body.get("type")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError("url must be an http(s) URL")
            if not isinstance(secret, str) or not valid_secret(secret):
                raise ValueError("secret must be a whsec_ string")
            if not isinstance(type_, str) or not type_:
                raise ValueError("type must be a non-empty string")
            event: dict[str, Any] = {"type": type_}
            if "reference" in body:
                if not isinstance(body["reference"], str):
                    raise ValueError("reference must be a string")
                event["reference"] = body["reference"]
            if "data" in body:
                if not isinstance(body["data"], dict):
                    raise ValueError("data must be an object")
                event["data"] = body["data"]
            message_id = body.get("messageId", f"msg_{uuid.uuid4().hex}")
            if not isinstance(message_id, str) or not message_id:
                raise ValueError("messageId must be a non-empty string")
            stamp = _int(body, "timestamp", int(time.time()), 0, 2**40)
            bad = body.get("badSignature", False)
            if not isinstance(bad, bool):
                raise ValueError("badSignature must be true or false")
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        key = "whsec_" + base64.b64encode(os.urandom(24)).decode() if bad else secret
        try:
            status, text = await post_signed(url, key, event, message_id, stamp)
        except (aiohttp.ClientError, TimeoutError) as e:
            return web.json_response(
                {"error": f"could not reach {url}: {type(e).__name__}: {e}", "messageId": message_id},
                status=502,
            )
        return web.json_response({"status": status, "body": text, "messageId": message_id})


async def post_signed(
    url: str, secret: str, event: dict[str, Any], message_id: str | None = None, stamp: int | None = None
) -> tuple[int, str]:
    """POST an event signed as a partner signs it (Standard Webhooks): the answer's status and text."""
    raw = json.dumps(event).encode()
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    stamp = int(time.time()) if stamp is None else stamp
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, message_id, stamp, raw),
    }
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT)) as http,
        http.post(url, data=raw, headers=headers, allow_redirects=False) as reply,
    ):
        return reply.status, (await reply.read()).decode(errors="replace")[:EXCERPT]


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; ValueError when it is not one (an empty body is `{}`)."""
    if not await request.read():
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body
