"""The live feed over real WebSockets and SSE: resume, filters, tickets, replicas, slow consumers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import Engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from config.settings import Settings
from storage import events, tenants
from storage.engine import session_scope
from tests.support import ApiClient, eventually, free_port, serving


def ws_url(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/live_feed" + (f"?{query}" if query else "")


@asynccontextmanager
async def feed(
    api: ApiClient, query: str = "", base: str | None = None, **kw: Any
) -> AsyncIterator[ClientConnection]:
    headers = {"Authorization": f"Bearer {api.key}"} if api.key else {}
    async with connect(ws_url(base or api.base, query), additional_headers=headers, **kw) as ws:
        yield ws


async def next_message(ws: ClientConnection, within: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def next_events(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < count:
        message = await next_message(ws)
        if message["type"] == "event":
            found.append(message)
    return found


async def test_reconnect_with_cursor_gets_exactly_what_was_missed(api: ApiClient) -> None:
    async with feed(api, "cartIds=cart-feed") as ws:
        assert (await next_message(ws))["type"] == "subscribed"
        sid = (await api.new_session(cart_id="cart-feed"))["id"]
        (created,) = await next_events(ws, 1)
        assert created["event"]["type"] == "session.created" and created["event"]["subject"] == sid
        last = created["cursor"]
    for action in ("confirm", "pick", "pack", "ship", "deliver"):
        await api.act(sid, action)
    await api.new_session(cart_id="another-cart")  # filtered out
    async with feed(api, f"cartIds=cart-feed&cursor={last}") as ws:
        assert (await next_message(ws))["type"] == "subscribed"
        missed = await next_events(ws, 5)
        assert [m["event"]["data"]["action"] for m in missed] == [
            "confirm",
            "pick",
            "pack",
            "ship",
            "deliver",
        ]
        assert [m["event"]["sequence"] for m in missed] == [2, 3, 4, 5, 6]
        cursors = [m["cursor"] for m in missed]
        assert cursors == sorted(cursors) and cursors[0] > last
        await api.act(sid, "finish")
        (live,) = await next_events(ws, 1)
        assert live["event"]["data"]["action"] == "finish" and live["cursor"] > cursors[-1]


async def test_subscribe_unsubscribe_and_rest_management(api: ApiClient) -> None:
    async with feed(api, "eventTypes=session.created") as ws:
        first = (await next_message(ws))["subscriptionId"]
        sid = (await api.new_session(cart_id="cart-sub"))["id"]
        assert (await next_events(ws, 1))[0]["subscriptionIds"] == [first]
        await ws.send(
            json.dumps({"action": "subscribe", "sessionIds": [sid], "eventTypes": ["session.status_changed"]})
        )
        second = await next_message(ws)
        assert second["type"] == "subscribed"
        await api.act(sid, "confirm")
        (changed,) = await next_events(ws, 1)
        assert changed["subscriptionIds"] == [second["subscriptionId"]]

        listed = await api.ok("GET", "/live_feed/subscriptions")
        assert {s["id"] for s in listed} == {first, second["subscriptionId"]}
        assert listed[1]["filters"]["sessionIds"] == [sid]

        await ws.send(json.dumps({"action": "unsubscribe", "subscriptionId": first}))
        assert await next_message(ws) == {"type": "unsubscribed", "subscriptionId": first}
        await ws.send(json.dumps({"action": "dance"}))
        assert (await next_message(ws))["errors"][0]["code"] == "UNKNOWN_ACTION"

        await api.ok("DELETE", f"/live_feed/subscriptions/{second['subscriptionId']}")
        assert await next_message(ws) == {"type": "unsubscribed", "subscriptionId": second["subscriptionId"]}
        # A witness on the same cart sees the next events; the hub offers each event to every
        # connection in one pass, so by then anything meant for `ws` is queued ahead of the reply
        # to a later command. That reply coming first shows nothing was sent.
        async with feed(api, "cartIds=cart-sub") as witness:
            await next_message(witness)
            await api.act(sid, "pick")
            await api.new_session(cart_id="cart-sub")
            assert len(await next_events(witness, 2)) == 2
            await ws.send(json.dumps({"action": "dance"}))
            assert (await next_message(ws))["type"] == "error"
    assert (await api.get("/live_feed/subscriptions/lfs_nope")).status == 405
    assert (await api.call("DELETE", "/live_feed/subscriptions/lfs_nope")).status == 404


async def test_tickets_are_single_use_and_needed_without_a_key(api: ApiClient) -> None:
    ticket = (await api.ok("POST", "/live_feed/tickets", status=201))["ticket"]
    anonymous = ApiClient(api.http, api.base, None)
    async with feed(anonymous, f"ticket={ticket}") as ws:
        assert (await next_message(ws))["type"] == "subscribed"
    with pytest.raises(InvalidStatus):
        async with feed(anonymous, f"ticket={ticket}"):
            pass
    with pytest.raises(InvalidStatus):
        async with feed(anonymous):
            pass


async def test_sse_resumes_with_last_event_id(api: ApiClient) -> None:
    sid = (await api.new_session(cart_id="cart-sse"))["id"]
    await api.act(sid, "confirm")
    log = (await api.ok("GET", f"/events?subject={sid}"))["items"]
    headers = {"Authorization": f"Bearer {api.key}", "Last-Event-ID": str(log[0]["cursor"])}
    async with api.http.get(f"{api.base}/live_feed/sse?cartIds=cart-sse", headers=headers) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        ids = []
        async with asyncio.timeout(10):
            async for line in stream.content:
                if line.startswith(b"id: "):
                    ids.append(int(line[4:]))
                    if len(ids) == 1:
                        await api.act(sid, "pick")
                    if len(ids) == 2:
                        break
    later = (await api.ok("GET", f"/events?subject={sid}"))["items"]
    assert ids == [later[1]["cursor"], later[2]["cursor"]]


async def test_every_replica_sees_every_event(api: ApiClient, settings: Settings) -> None:
    other = settings.model_copy(update={"api_port": free_port()})
    async with serving(other) as replica, feed(api, "cartIds=cart-replica", base=replica) as ws:
        await next_message(ws)
        await api.new_session(cart_id="cart-replica")  # through the first replica
        (event,) = await next_events(ws, 1)
        assert event["event"]["data"]["cartId"] == "cart-replica"


def append_events(engine: Engine, tenant: str, count: int, size: int) -> None:
    with session_scope(engine) as s:
        for i in range(count):
            events.append(
                s,
                tenant,
                "webhook.test",
                "bulk",
                {"webhookId": "x", "message": "x" * size},
                datetime.now(UTC),
                i + 1,
            )


class StalledConsumer:
    """Completes the WebSocket handshake, reads its first message, then reads nothing at all."""

    def __init__(self, url: str, key: str) -> None:
        self.proto = ClientProtocol(parse_uri(url))
        request = self.proto.connect()
        request.headers["Authorization"] = f"Bearer {key}"
        self.proto.send_request(request)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)

    async def _read(self) -> bool:
        data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        if data:
            self.proto.receive_data(data)
        else:
            self.proto.receive_eof()
        return bool(data)

    async def start(self, host: str, port: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, (host, port))
        await loop.sock_sendall(self.sock, b"".join(self.proto.data_to_send()))
        while True:
            await self._read()
            for event in self.proto.events_received():
                if isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                    return dict(json.loads(bytes(event.data)))

    async def close_code(self) -> int | None:
        """Read everything that was held back, up to the server's close frame."""
        while await self._read():
            self.proto.events_received()
            if self.proto.close_rcvd is not None:
                return self.proto.close_rcvd.code
        return self.proto.close_rcvd.code if self.proto.close_rcvd else None


async def test_a_stalled_consumer_is_cut_off_while_others_keep_receiving(
    settings: Settings, engine: Engine, make_tenant: Callable[..., ApiClient], http: aiohttp.ClientSession
) -> None:
    quick = settings.model_copy(update={"api_port": free_port(), "live_feed_send_timeout_seconds": 1.0})
    api = make_tenant()
    async with serving(quick) as base, feed(api, base=base) as healthy:
        stalled = StalledConsumer(ws_url(base), str(api.key))
        stalled_sub = (await stalled.start("127.0.0.1", quick.api_port))["subscriptionId"]
        await next_message(healthy)
        # More than the socket buffers can hold (4 MB send buffer at most here), so the stalled socket blocks.
        total, size = 400, 24_000
        await asyncio.to_thread(append_events, engine, api.tenant, total, size)
        got = await asyncio.wait_for(next_events(healthy, total), 60)
        assert [m["event"]["sequence"] for m in got] == list(range(1, total + 1))

        async def cut_off() -> bool:
            listed = await ApiClient(http, base, api.key).ok("GET", "/live_feed/subscriptions")
            return stalled_sub not in {s["id"] for s in listed}

        await eventually(cut_off, 30, "the stalled consumer to be cut off")
        assert await asyncio.wait_for(stalled.close_code(), 30) == 1013
        stalled.sock.close()


async def test_ending_subscriptions_needs_events_write(
    engine: Engine, make_tenant: Callable[..., ApiClient]
) -> None:
    reader = make_tenant(["events:read"])
    async with feed(reader) as ws:
        sid = (await next_message(ws))["subscriptionId"]
        for path in (f"/live_feed/subscriptions/{sid}", "/live_feed/subscriptions"):
            reply = await reader.call("DELETE", path)
            assert reply.status == 403 and reply.body["required_scope"] == "events:write", path
        assert [s["id"] for s in await reader.ok("GET", "/live_feed/subscriptions")] == [sid]
        key = tenants.issue_key(engine, reader.tenant, ["events:read", "events:write"])
        writer = ApiClient(reader.http, reader.base, key, reader.tenant)
        assert (await writer.ok("DELETE", f"/live_feed/subscriptions/{sid}")) == {"ended": [sid]}
        assert await next_message(ws) == {"type": "unsubscribed", "subscriptionId": sid}


async def test_the_subscription_list_is_paged(make_tenant: Callable[..., ApiClient]) -> None:
    api = make_tenant()
    async with feed(api) as ws:
        first = (await next_message(ws))["subscriptionId"]
        for cart in ("a", "b"):
            await ws.send(json.dumps({"action": "subscribe", "cartIds": [cart]}))
            await next_message(ws)
        listed = await api.ok("GET", "/live_feed/subscriptions")
        assert len(listed) == 3 and listed[0]["id"] == first
        page = await api.ok("GET", "/live_feed/subscriptions?limit=2&offset=1")
        assert [s["id"] for s in page] == [s["id"] for s in listed[1:]]
        assert [s["id"] for s in await api.ok("GET", "/live_feed/subscriptions?limit=1")] == [first]
        assert (await api.get("/live_feed/subscriptions?limit=501")).status == 400


async def test_a_cursor_too_far_behind_is_refused(
    settings: Settings, engine: Engine, make_tenant: Callable[..., ApiClient]
) -> None:
    small = settings.model_copy(update={"api_port": free_port(), "live_feed_max_backfill": 3})
    api = make_tenant()
    await asyncio.to_thread(append_events, engine, api.tenant, 5, 10)
    log = (await api.ok("GET", "/events"))["items"]
    assert len(log) == 5
    async with serving(small) as base:
        async with feed(api, "cursor=0", base=base) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await next_message(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
        assert "over 3 events behind" in closed.value.rcvd.reason

        async with feed(api, f"cursor={log[1]['cursor']}", base=base) as ws:  # 3 behind: replayed
            assert (await next_message(ws))["type"] == "subscribed"
            assert [m["event"]["sequence"] for m in await next_events(ws, 3)] == [3, 4, 5]

        headers = {"Authorization": f"Bearer {api.key}", "Last-Event-ID": str(log[0]["cursor"])}
        async with api.http.get(f"{base}/live_feed/sse", headers=headers) as refused:
            body = await refused.json(content_type=None)
        assert refused.status == 410 and refused.headers["Content-Type"] == "application/problem+json"
        assert body["errors"][0]["code"] == "CURSOR_TOO_OLD" and body["errors"][0]["field"] == "Last-Event-ID"
