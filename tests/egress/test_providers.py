"""Push providers go through the guard: a loopback endpoint or token URI is refused unless allowed."""

from __future__ import annotations

import aiohttp
import pytest

from domain.push import ApnsCredentials, FcmCredentials, Notification, WebPushCredentials, WebPushSubscription
from egress.http import Egress
from egress.push.apns import ApnsSender
from egress.push.fcm import FcmSender
from egress.push.webpush import WebPushSender
from egress.urls import UnsafeUrl
from tests.push_fakes import PushFakes

NOTE = Notification(title="Order received", body="on it", data={})


async def test_web_push_to_a_loopback_endpoint_is_refused(
    http: aiohttp.ClientSession, push_fakes: PushFakes
) -> None:
    creds = WebPushCredentials(subject="mailto:ops@example.com")
    subscription = WebPushSubscription.model_validate(push_fakes.subscription("guarded"))
    assert subscription.endpoint.startswith("http://127.0.0.1:")
    with pytest.raises(UnsafeUrl, match="non-public"):
        await WebPushSender(Egress(http, allow_private=False)).send(creds, subscription, NOTE)
    assert not [p for p in push_fakes.inbox.items if p.token == "guarded"]
    result = await WebPushSender(Egress(http, allow_private=True)).send(creds, subscription, NOTE)
    assert result.outcome == "sent"  # the same endpoint, allowed


async def test_fcm_token_uri_and_apns_host_go_through_the_guard(
    http: aiohttp.ClientSession, push_fakes: PushFakes
) -> None:
    refusing = Egress(http, allow_private=False)
    fcm = FcmCredentials.model_validate({"serviceAccount": push_fakes.service_account()})
    public = FcmSender(refusing, "https://fcm.googleapis.com")  # only the tenant's token_uri is loopback
    with pytest.raises(UnsafeUrl, match="non-public"):
        await public.send("app", fcm, "token", NOTE)
    apns = ApnsSender(push_fakes.apns_base, push_fakes.ca_file, refusing)
    try:
        with pytest.raises(UnsafeUrl, match="non-public"):
            await apns.send(
                "app", ApnsCredentials.model_validate(push_fakes.apns_credentials()), "a1", NOTE, "id"
            )
    finally:
        await apns.close()
    assert not [p for p in push_fakes.inbox.items if p.token in ("token", "a1")]
