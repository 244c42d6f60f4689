"""The outbound workflow alone on the time-skipping server, its activities stand-ins: an OMS that
fails its first three attempts (the server does not skip activity retries' backoff: the end-to-end
test takes the OMS down by the sandbox), then the whole walk to DELIVERED."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.logistics import LogisticsActivities
from activities.partners import PartnerActivities
from activities.sessions import SessionActivities
from clients.sessions import SessionClient
from domain import outbound as o
from domain.ids import outbound_session_id, session_workflow_id
from domain.partners import CallResult, Notification, PartnerCall, PartnerEvent
from domain.session import SessionChange, SessionStart, SessionView
from tests.workflows.support import keep, stand_in, worker
from workflows.outbound import OutboundWorkflow


def event(id_: str, connector: str, type_: str, **data: object) -> PartnerEvent:
    return PartnerEvent(id=id_, connector=connector, type=type_, data=data, received_at=datetime.now(UTC))


async def test_an_oms_failing_at_first_then_the_walk_to_delivered(time_skipping: WorkflowEnvironment) -> None:
    changes: list[SessionChange] = []
    notified: list[Notification] = []
    calls: list[tuple[bool, PartnerCall]] = []

    @stand_in(SessionActivities.record_session_change)
    async def record(change: SessionChange) -> None:
        changes.append(change)

    @stand_in(SessionActivities.notify)
    async def notify(notification: Notification) -> None:
        notified.append(notification)

    @stand_in(LogisticsActivities.track)
    async def track(t: o.Track) -> o.Tracked:
        return o.Tracked(callback_url=f"http://orchestrator.test/partners/con_{t.carrier}/events")

    @stand_in(PartnerActivities.call_partner)
    async def call_partner(call: PartnerCall) -> CallResult:
        calls.append((activity.info().is_local, call))
        if call.path == "/outbound-orders":
            if sum(c.path == call.path for _, c in calls) <= 3:
                raise ApplicationError("oms answered 503", type="PartnerFailed")
            return CallResult(status=201, body={"omsOrderId": "OMS-1", "status": "CREATED"})
        if call.path == "/pgi":
            return CallResult(status=201, body={"pgiId": "PGI-1", "status": "ACCEPTED"})
        return CallResult(status=201, body={"webhookId": "wh-1"})

    tid = "TID-WF-1"
    session_id = outbound_session_id("wf", tid)
    outbound = {
        "outboundId": session_id,
        "trackingIdShipper": tid,
        "type": "OUTBOUND",
        "items": [{"sku": "A", "quantity": 1}],
    }
    start = SessionStart(
        tenant="wf",
        session_id=session_id,
        cart_id=tid,
        reference=tid,
        context={"outbound": outbound, "connectors": {"oms": "oms", "wms": "wms"}},
        definition=o.outbound_process("oms"),
    )
    stand_ins: list[Callable[..., Any]] = [record, notify, track, call_partner]
    async with worker(time_skipping, [OutboundWorkflow], stand_ins) as queue:
        await SessionClient(time_skipping.client, queue, None).start(start)
        handle: WorkflowHandle[OutboundWorkflow, SessionView] = time_skipping.client.get_workflow_handle_for(
            OutboundWorkflow.run, session_workflow_id("wf", session_id)
        )
        await handle.signal(OutboundWorkflow.partner_event, event("e1", "oms", o.CONFIRMED_EVENT))
        pgi = event(
            "e2", "oms", o.PGI_EVENT, carrier="swift", trackingNumber="S-9", issuedAt="2026-11-28T10:00:00Z"
        )
        await handle.signal(OutboundWorkflow.partner_event, pgi)
        t0 = datetime(2026, 11, 28, 11, tzinfo=UTC)
        for n, (word, minutes) in enumerate((("In Transit", 0), ("Label Created", -5), ("Delivered", 60))):
            when = (t0 + timedelta(minutes=minutes)).isoformat()
            status = event(
                f"s{n}", "swift", o.STATUS_EVENT, trackingNumber="S-9", status=word, occurredAt=when
            )
            await handle.signal(OutboundWorkflow.partner_event, status)
        final = await handle.result()
        await keep(handle, "outbound_delivered")

    oms = [(local, c) for local, c in calls if c.path == "/outbound-orders"]
    assert [local for local, _ in oms] == [True, False, False, False]
    assert {c.idempotency_key for _, c in oms} == {f"{session_id}:0:0"}
    assert oms[0][1].body == outbound
    wms = [c for _, c in calls if c.path == "/pgi"]
    assert len(wms) == 1 and wms[0].body["omsOrderId"] == "OMS-1" and wms[0].body["trackingNumber"] == "S-9"
    hooks = [c for _, c in calls if c.path == "/webhooks"]
    assert [(c.connector, c.body["url"]) for c in hooks] == [
        ("swift", "http://orchestrator.test/partners/con_swift/events")
    ]

    assert final.status == "DELIVERED" and final.context["shipment"]["stale"] == 1
    trail = [(c.revision.action, c.revision.to) for c in changes]
    assert trail[:4] == [
        ("create", "RECEIVED"),
        ("submit", "SUBMITTED"),
        ("confirm", "CONFIRMED"),
        ("issue_goods", "GOODS_ISSUED"),
    ]
    assert ("carrier_stale", "IN_TRANSIT") in trail and trail[-1] == ("deliver", "DELIVERED")
    actions = [action for action, _ in trail]
    assert actions.index("wms_accepted") < actions.index("deliver")
    assert [n.type for n in notified] == [
        "outbound.confirmed",
        "outbound.goods_issued",
        "shipment.status_changed",
        "shipment.status_changed",
    ]
    assert [n.sequence for n in notified] == [1, 2, 3, 4]
    assert [n.data["status"] for n in notified[2:]] == ["IN_TRANSIT", "DELIVERED"]
