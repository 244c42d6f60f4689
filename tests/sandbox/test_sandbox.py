"""The partner sandbox: its webhook receiver verifies signatures; faults are injected on request."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from domain.signing import signature_header
from sandbox.app import RECEIVER_PATH, create_app
from storage.webhooks import new_secret
from tests.support import loopback

SECRET = new_secret()


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    async with loopback(create_app([SECRET])) as url:
        yield url


def signed(secret: str, message_id: str, body: bytes, stamp: int | None = None) -> dict[str, str]:
    stamp = stamp or int(time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header([secret], message_id, stamp, body),
    }


async def test_receiver_verifies_and_lists(sandbox: str, http: aiohttp.ClientSession) -> None:
    body = json.dumps({"type": "session.created", "data": {}}).encode()
    async with http.post(sandbox + RECEIVER_PATH, data=body, headers=signed(SECRET, "evt_1", body)) as r:
        assert r.status == 204
    async with http.post(
        sandbox + RECEIVER_PATH, data=body, headers=signed(new_secret(), "evt_2", body)
    ) as r:
        assert r.status == 401
    stale = signed(SECRET, "evt_3", body, stamp=int(time.time()) - 3600)
    async with http.post(sandbox + RECEIVER_PATH, data=body, headers=stale) as r:
        assert r.status == 401
    async with http.get(sandbox + "/received") as r:
        got = await r.json()
    assert [(g["webhookId"], g["verified"]) for g in got] == [
        ("evt_1", True),
        ("evt_2", False),
        ("evt_3", False),
    ]
    assert got[2]["verification"] == "timestamp outside the 5 minute tolerance"


async def test_faults_are_injected_and_validated(sandbox: str, http: aiohttp.ClientSession) -> None:
    body = b"{}"
    async with http.put(sandbox + "/faults/receiver", json={"down": True}) as r:
        assert r.status == 200 and (await r.json())["down"] is True
    async with http.post(sandbox + RECEIVER_PATH, data=body, headers=signed(SECRET, "evt_9", body)) as r:
        assert r.status == 503
    async with http.put(sandbox + "/faults/receiver", json={"down": False, "errorRate": 1}) as r:
        assert r.status == 200
    async with http.post(sandbox + RECEIVER_PATH, data=body, headers=signed(SECRET, "evt_10", body)) as r:
        assert r.status == 500
    async with http.put(sandbox + "/faults/receiver", json={"errorRate": 2}) as r:
        assert r.status == 400 and "errorRate" in (await r.json())["error"]
    async with http.put(sandbox + "/faults/nobody", json={}) as r:
        assert r.status == 404
