"""What the fuzzer found, pinned down: no input reaches the database unbounded or corrupts a row."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import ApiClient

HUGE = 6664374207108798129730896659480576


@pytest.mark.parametrize(
    "path",
    [
        f"/locations?offset={HUGE}",
        f"/sessions?offset={HUGE}",
        f"/events?after={HUGE}",
        f"/api/orders?offset={HUGE}",
        f"/inventory?offset={HUGE}",
        "/webhooks?limit=501",
        "/applications?limit=501",
        "/device_tokens?limit=0",
        "/carts/c/revisions?offset=-1",
        f"/processes/WEB_ORDER/versions/{HUGE}",
    ],
)
async def test_integers_past_their_range_are_a_400_naming_the_parameter(api: ApiClient, path: str) -> None:
    reply = await api.get(path)
    assert reply.status == 400, reply.body
    assert reply.body["errors"][0]["field"] in ("offset", "after", "limit", "version")


async def test_stock_past_a_32_bit_column_is_refused(api: ApiClient) -> None:
    for field in ("onHand", "reserved", "safetyStock"):
        position = {"locationRef": "L", "skuRef": "S", "onHand": 1, field: 2**31}
        reply = await api.call("PUT", "/inventory", {"positions": [position]})
        assert reply.status == 400 and reply.body["errors"][0]["field"] == f"positions[0].{field}", reply.body


async def test_a_webhook_patch_with_null_is_refused_and_the_row_stays_readable(api: ApiClient) -> None:
    hook = await api.ok("POST", "/webhooks", {"url": "http://127.0.0.1:9/h", "eventTypes": ["order.*"]}, 201)
    for body, field in (
        ({"url": None, "enabled": None, "eventTypes": []}, "url"),
        ({"eventTypes": None}, "eventTypes"),
    ):
        reply = await api.call("PATCH", f"/webhooks/{hook['id']}", body)
        assert reply.status == 400 and reply.body["errors"][0]["field"] == field, reply.body
    assert (await api.ok("GET", "/webhooks"))[0]["eventTypes"] == ["order.*"]  # the filter is intact
    patched = await api.ok("PATCH", f"/webhooks/{hook['id']}", {"description": "only this"})
    assert patched["url"] == "http://127.0.0.1:9/h" and patched["description"] == "only this"


async def test_a_body_over_the_limit_is_a_413_before_it_is_read(api: ApiClient) -> None:
    big = {"processType": "WEB_ORDER", "cartId": "c", "context": {"blob": "x" * (1024 * 1024 + 1)}}
    reply = await api.call("POST", "/sessions", big)
    assert reply.status == 413 and reply.body["errors"][0]["code"] == "BODY_TOO_LARGE"
    chunked = await api.http.post(
        f"{api.base}/sessions",
        data=_chunks(b'{"processType": "WEB_ORDER", "cartId": "' + b"y" * (2 * 1024 * 1024) + b'"}'),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert chunked.status == 413  # no Content-Length: counted as it arrives


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]
