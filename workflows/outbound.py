"""The outbound order: a session of the `OUTBOUND` process with its own workflow type, `OutboundOrder`.

The definition's steps call the OMS (RECEIVED) and await its confirmation and goods issue; this class
adds what data cannot say: the PGI forwarded to the WMS, the carrier told where to send its events,
carrier events normalized and applied in the order they happened (never backwards), the promise
ledger, and the client's `outbound.*` and `shipment.*` events. An outbound does not end (DELIVERED,
RETURNED) before the WMS accepted its PGI: a carrier's final word waits for it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.logistics import LogisticsActivities
    from domain import outbound as o
    from domain.errors import Conflict, to_failure
    from domain.partners import PartnerCall, PartnerEvent
    from domain.process import AwaitStep
    from domain.session import ActionRequest, SessionStart, SessionView

from workflows.session import DROP, SessionWorkflow

SHIPMENT_EVENTS = 50  # carrier events an outbound keeps in its view (the newest)
CARRIER_ACTIONS = frozenset(action for action, _ in o.MOVES.values())
# What a `shipment.*` event tells of the carrier's word; its `status` is the shipment's, normalized.
SHIPMENT_FIELDS = ("status", "previousStatus", "carrierStatus", "occurredAt", "location", "estimatedDelivery")


# Not sandboxed, like the session workflow it extends (and under the same rules).
@workflow.defn(name="OutboundOrder", sandboxed=False)
class OutboundWorkflow(SessionWorkflow):
    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        super().__init__(start)
        self._tasks: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, start: SessionStart) -> SessionView:
        view = await super().run(start)
        await workflow.wait_condition(lambda: all(t.done() for t in self._tasks))
        return view

    def busy(self) -> bool:
        return super().busy() or any(not t.done() for t in self._tasks)

    # Partner events -----------------------------------------------------------------------------

    def on_event(self, event: PartnerEvent, awaits: list[AwaitStep]) -> ActionRequest | None:
        if event.type == o.PGI_EVENT and self._status == o.CONFIRMED:
            return self._goods_issued(event)
        if event.type == o.STATUS_EVENT:
            return self._carrier_status(event)
        return super().on_event(event, awaits)

    def _goods_issued(self, event: PartnerEvent) -> ActionRequest:
        """The OMS's PGI: kept, the WMS to be told; a carrier and tracking number in it set the shipment."""
        data = event.data
        outbound = self.context["outbound"]
        self.context["pgi"] = {
            "items": data.get("items") if isinstance(data.get("items"), list) else outbound["items"],
            "issuedAt": data.get("issuedAt") or event.received_at.isoformat(),
        }
        self.context["wms"] = {"status": "PENDING", "connector": self.context["connectors"]["wms"]}
        carrier, number = data.get("carrier"), data.get("trackingNumber")
        if isinstance(carrier, str) and isinstance(number, str) and "shipment" not in self.context:
            try:
                update = o.ShipmentSet(carrier=carrier, tracking_number=number)
            except ValidationError:
                pass  # not a usable carrier name or number: the shipment is set by PUT instead
            else:
                self._set_shipment(o.ShipmentUpdate(carrier=update.carrier, tracking_number=number))
        self._tasks.append(asyncio.create_task(self._forward_pgi()))
        return ActionRequest(action="issue_goods", actor=f"partner:{event.connector}", data=data)

    def _carrier_status(self, event: PartnerEvent) -> ActionRequest | None:
        """A carrier's status: held until goods are issued (and a final one until the WMS accepted
        the PGI), dropped when it is not this shipment's or older than the status it has."""
        if self._status not in o.SHIPPING:
            return None if not self._definition.is_terminal(self._status) else DROP
        shipment = self.context.get("shipment")
        try:
            status = o.CarrierStatus.model_validate(event.data)
        except ValidationError:
            return DROP
        if (
            shipment is None
            or event.connector != shipment["carrier"]
            or (status.tracking_number and status.tracking_number != shipment["trackingNumber"])
        ):
            return DROP
        normalized = o.normalize(status.status)
        if shipment.get("occurredAt") and status.occurred_at < datetime.fromisoformat(shipment["occurredAt"]):
            shipment["stale"] = shipment.get("stale", 0) + 1  # an older word: kept on record, no step back
            older = {
                "status": normalized,
                "carrierStatus": status.status,
                "occurredAt": status.occurred_at.isoformat(),
            }
            return ActionRequest(action=o.CARRIER_STALE, actor=f"partner:{event.connector}", data=older)
        if normalized in o.FINAL and self.context["wms"]["status"] != "ACCEPTED":
            return None
        previous = shipment.get("status")
        estimate = status.estimated_delivery.isoformat() if status.estimated_delivery else None
        shipment.update(
            status=normalized,
            carrierStatus=status.status,
            occurredAt=status.occurred_at.isoformat(),
            location=status.location,
            estimatedDelivery=estimate or shipment.get("estimatedDelivery"),
        )
        promised = shipment.get("promisedBy")
        delayed_now = bool(
            promised and shipment["estimatedDelivery"] and shipment["estimatedDelivery"] > promised
        ) and not shipment.get("delayed")
        shipment["delayed"] = shipment.get("delayed", False) or delayed_now
        record = {
            "status": normalized,
            "carrierStatus": status.status,
            "occurredAt": shipment["occurredAt"],
            "location": status.location,
            "estimatedDelivery": estimate,
        }
        shipment["events"] = [*shipment.get("events", [])[-(SHIPMENT_EVENTS - 1) :], record]
        action = o.MOVES[normalized][0] if normalized in o.MOVES else o.CARRIER_UPDATE
        data: dict[str, Any] = {**record, "previousStatus": previous, "delayed": delayed_now}
        return ActionRequest(action=action, actor=f"partner:{event.connector}", data=data)

    # The shipment, the WMS, the carrier's webhook -------------------------------------------------

    @workflow.update
    async def set_shipment(self, update: o.ShipmentUpdate) -> SessionView:
        """Who carries it, under which number (the same again changes nothing)."""
        shipment = self.context.get("shipment")
        if shipment and (shipment["carrier"], shipment["trackingNumber"]) == (
            update.carrier,
            update.tracking_number,
        ):
            return self.view()
        self._set_shipment(update)
        return await self._transition(
            ActionRequest(
                action=o.SET_SHIPMENT, actor=update.actor, data=update.model_dump(mode="json", by_alias=True)
            )
        )

    @set_shipment.validator
    def _validate_set_shipment(self, update: o.ShipmentUpdate) -> None:
        if self._status not in o.SHIPMENT_SETTABLE:
            allowed = ", ".join(o.SHIPMENT_SETTABLE)
            raise to_failure(
                Conflict.one(
                    "SHIPMENT_NOT_SETTABLE",
                    f"the outbound is {self._status}; a shipment is set in {allowed}",
                    "status",
                )
            )

    def _set_shipment(self, update: o.ShipmentUpdate) -> None:
        """A new shipment in the context (what the change records), and its tracking registered. Without
        a quote of its own it keeps the promise made for that carrier: the replaced shipment's, else
        the outbound's."""
        promise = update.promise
        before = self.context.get("shipment") or {}
        kept = self.context.get("promise")
        if promise is None and before.get("quoteId") and before["carrier"] == update.carrier:
            promise = o.Promise(
                quote_id=before["quoteId"], provider=before["carrier"], promised_by=before["promisedBy"]
            )
        elif promise is None and kept and kept["provider"] == update.carrier:
            promise = o.Promise.model_validate(kept)
        self.context["shipment"] = {
            "carrier": update.carrier,
            "trackingNumber": update.tracking_number,
            "status": None,
            "carrierStatus": None,
            "occurredAt": None,
            "location": None,
            "estimatedDelivery": None,
            "promisedBy": promise.promised_by.isoformat() if promise else None,
            "quoteId": promise.quote_id if promise else None,
            "delayed": False,
            "trackingRegistered": False,
            "events": [],
        }
        self._tasks.append(
            asyncio.create_task(self._register_tracking(update.carrier, update.tracking_number))
        )

    async def _register_tracking(self, carrier: str, number: str) -> None:
        """Record the tracking number (so the carrier's events find this outbound), then register our
        webhook with the carrier; its outcome is a change of its own."""
        outcome: dict[str, Any]
        try:
            tracked = await workflow.execute_local_activity_method(
                LogisticsActivities.track,
                o.Track(
                    tenant=self._start.tenant,
                    session_id=self._start.session_id,
                    carrier=carrier,
                    tracking_number=number,
                ),
                start_to_close_timeout=timedelta(seconds=15),
                schedule_to_close_timeout=timedelta(minutes=5),
            )
            call = self._partner_call(
                "shipment.tracking",
                carrier,
                "/webhooks",
                {
                    "url": tracked.callback_url,
                    "trackingNumber": number,
                    "reference": self._start.reference,
                    "events": [o.STATUS_EVENT],
                },
                f"{self._start.session_id}:tracking:{carrier}:{number}",
            )
            await self._call_partner(call, 20)
            outcome = {"carrier": carrier, "trackingNumber": number, "registered": True}
        except FailureError as e:
            outcome = {
                "carrier": carrier,
                "trackingNumber": number,
                "registered": False,
                "reason": _reason(e),
            }
        shipment = self.context.get("shipment")
        if not shipment or (shipment["carrier"], shipment["trackingNumber"]) != (carrier, number):
            return  # replaced meanwhile: the new one registers itself
        shipment["trackingRegistered"] = outcome["registered"]
        shipment["trackingError"] = outcome.get("reason")
        await self._system(o.TRACKING_REGISTERED, f"partner:{carrier}", outcome)

    @workflow.update
    async def resend_pgi(self, actor: str) -> SessionView:
        """The PGI to the WMS again, once it refused it (a new intent: a new `Idempotency-Key`)."""
        sent = self.context["wms"].get("sent", 1) + 1
        self.context["wms"] = {
            "status": "PENDING",
            "connector": self.context["connectors"]["wms"],
            "sent": sent,
        }
        self._tasks.append(asyncio.create_task(self._forward_pgi()))
        return await self._transition(ActionRequest(action=o.RESEND_PGI, actor=actor, data={"sent": sent}))

    @resend_pgi.validator
    def _validate_resend_pgi(self, actor: str) -> None:
        if (self.context.get("wms") or {}).get("status") != "REFUSED":
            raise to_failure(
                Conflict.one("PGI_NOT_REFUSED", "the PGI is sent again only after the WMS refused it", "wms")
            )

    async def _forward_pgi(self) -> None:
        """The PGI to the WMS (one intent, retried durably); the outbound can end once it accepted."""
        sent = self.context["wms"].get("sent", 1)
        wms = self.context["connectors"]["wms"]
        outbound, shipment = self.context["outbound"], self.context.get("shipment") or {}
        call = self._partner_call(
            "GOODS_ISSUED.wms",
            wms,
            "/pgi",
            {
                "outboundId": self._start.session_id,
                "trackingIdShipper": outbound["trackingIdShipper"],
                "type": outbound["type"],
                "omsOrderId": (self.context.get("oms") or {}).get("omsOrderId"),
                "warehouseRef": wms,
                "items": self.context["pgi"]["items"],
                "issuedAt": self.context["pgi"]["issuedAt"],
                "carrier": shipment.get("carrier"),
                "trackingNumber": shipment.get("trackingNumber"),
            },
            # The first PGI's key stays what it was; one sent again after a refusal is a new intent.
            f"{self._start.session_id}:pgi" + (f":{sent}" if sent > 1 else ""),
        )
        try:
            result = await self._call_partner(call, 100)
        except FailureError as e:
            self.context["wms"] = {"status": "REFUSED", "connector": wms, "sent": sent, "reason": _reason(e)}
            await self._system(o.WMS_REFUSED, f"partner:{wms}", {"reason": _reason(e)})
            return
        body = result.body if isinstance(result.body, dict) else {}
        self.context["wms"] = {
            "status": "ACCEPTED",
            "connector": wms,
            "sent": sent,
            "pgiId": body.get("pgiId"),
        }
        await self._system(o.WMS_ACCEPTED, f"partner:{wms}", {"pgiId": body.get("pgiId")})

    def _partner_call(self, step: str, connector: str, path: str, body: Any, key: str) -> PartnerCall:
        """A POST of the outbound's own (not a step of its definition): one intent, one `key`."""
        return PartnerCall(
            tenant=self._start.tenant,
            session_id=self._start.session_id,
            step=step,
            connector=connector,
            method="POST",
            path=path,
            body=body,
            idempotency_key=key,
        )

    async def _system(self, action: str, actor: str, data: dict[str, Any]) -> None:
        """A change the process makes, when the state still allows it."""
        if action in self._definition.allowed_actions(self._status):
            await self._transition(ActionRequest(action=action, actor=actor, data=data))

    # The client's events ------------------------------------------------------------------------

    def notifications(self, view: SessionView, request: ActionRequest) -> list[tuple[str, dict[str, Any]]]:
        outbound = self.context["outbound"]
        base = {
            "outboundId": self._start.session_id,
            "trackingIdShipper": outbound["trackingIdShipper"],
            "reference": outbound.get("reference"),
            "status": view.status,
            "omsOrderId": (self.context.get("oms") or {}).get("omsOrderId"),
        }
        action, data = request.action, request.data
        if action == "confirm":
            return [("outbound.confirmed", base)]
        if action == "reject":
            return [
                ("outbound.rejected", {**base, "reason": str(data.get("reason") or "rejected by the OMS")})
            ]
        if action == "issue_goods":
            shipment = self.context.get("shipment") or {}
            pgi = {
                "pgi": self.context["pgi"],
                "carrier": shipment.get("carrier"),
                "trackingNumber": shipment.get("trackingNumber"),
            }
            return [("outbound.goods_issued", {**base, **pgi})]
        if action == o.WMS_REFUSED:
            return [("outbound.wms_refused", {**base, "reason": data.get("reason")})]
        if action == o.CARRIER_UPDATE or action in CARRIER_ACTIONS:
            shipment = self.context["shipment"]
            tracking = {
                **base,
                "outboundStatus": view.status,
                "carrier": shipment["carrier"],
                "trackingNumber": shipment["trackingNumber"],
                **{k: data.get(k) for k in SHIPMENT_FIELDS},
            }
            events = [("shipment.status_changed", tracking)]
            if data.get("delayed"):
                delay = {**tracking, "promisedBy": shipment["promisedBy"], "quoteId": shipment["quoteId"]}
                events.append(("shipment.delayed", delay))
            return events
        return []


def _reason(error: FailureError) -> str:
    failure = error.cause if isinstance(error, ActivityError) else error
    return failure.message if isinstance(failure, FailureError) else str(failure or error)
