"""Starting order workflows and sending them Updates: the Temporal calls behind the order routes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TypeVar

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import UpdateMethodMultiParam

from clients.temporal import WorkflowNotFound, call
from domain.ids import options_hold_workflow_id, order_workflow_id
from domain.orders import (
    CarrierEvent,
    FulfillableConfig,
    FulfillmentCommand,
    Modify,
    OptionsHold,
    Order,
    OrderAction,
    OrderStart,
)
from workflows import search_attributes as sa
from workflows.options_hold import OptionsHoldWorkflow
from workflows.order import OrderWorkflow

A = TypeVar("A")


class OrderClient:
    def __init__(self, client: Client, task_queue: str, timeout: float | None) -> None:
        self._client, self._queue, self._timeout = client, task_queue, timeout

    def _handle(self, tenant: str, order_id: str) -> WorkflowHandle[OrderWorkflow, Order]:
        return self._client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id(tenant, order_id))

    async def start(self, order: Order, fulfillable: FulfillableConfig) -> None:
        await call(
            self._client.start_workflow(
                OrderWorkflow.run,
                OrderStart(order=order, fulfillable=fulfillable),
                id=order_workflow_id(order.tenant, order.id),
                task_queue=self._queue,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.TENANT, order.tenant),
                        SearchAttributePair(sa.REFERENCE, order.tenant_order_id),
                        SearchAttributePair(sa.STATUS, order.status),
                    ]
                ),
                static_summary=f"order {order.tenant_order_id} ({len(order.order_line_items)} line(s))",
            ),
            self._timeout,
        )

    async def get(self, tenant: str, order_id: str) -> Order:
        """The order as its workflow holds it (strongly consistent); `NotFound` naming the order."""
        try:
            return await call(self._handle(tenant, order_id).query(OrderWorkflow.order), self._timeout)
        except WorkflowNotFound:
            raise WorkflowNotFound.one("ORDER_NOT_FOUND", f"no order {order_id!r}", "id") from None

    async def hold_options(self, hold: OptionsHold) -> None:
        """Start the timer that releases a selected plan's stock (once per options id)."""
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await call(
                self._client.start_workflow(
                    OptionsHoldWorkflow.run,
                    hold,
                    id=options_hold_workflow_id(hold.tenant, hold.options_id, hold.plan_id),
                    task_queue=self._queue,
                    static_summary=f"hold of plan {hold.plan_id} for {hold.seconds} s",
                ),
                self._timeout,
            )

    async def carrier_event(self, tenant: str, order_id: str, event: CarrierEvent) -> None:
        """Hand a carrier's status for a fulfillment's shipment to its order (`WorkflowNotFound` once
        the order has finished)."""
        await call(self._handle(tenant, order_id).signal(OrderWorkflow.carrier_event, event), self._timeout)

    async def modify(self, tenant: str, order_id: str, modify: Modify) -> Order:
        return await self._update(tenant, order_id, OrderWorkflow.modify, modify)

    async def act(self, tenant: str, order_id: str, action: OrderAction) -> Order:
        return await self._update(tenant, order_id, OrderWorkflow.act, action)

    async def fulfillment(
        self, tenant: str, order_id: str, command: FulfillmentCommand, update_id: str | None = None
    ) -> Order:
        """`update_id`: the same id twice is applied once (Temporal keeps the first result)."""
        return await self._update(tenant, order_id, OrderWorkflow.fulfillment, command, update_id)

    async def _update(
        self,
        tenant: str,
        order_id: str,
        update: UpdateMethodMultiParam[[OrderWorkflow, A], Order],
        arg: A,
        update_id: str | None = None,
    ) -> Order:
        """A refused Update raises its domain error; an order that is not running, `NotFound`."""
        try:
            return await call(
                self._handle(tenant, order_id).execute_update(update, arg, id=update_id), self._timeout
            )
        except WorkflowNotFound:
            raise WorkflowNotFound.one("ORDER_NOT_FOUND", f"no open order {order_id!r}", "id") from None

    async def network_changed(self, tenant: str, order_ids: list[str]) -> None:
        """Tell orders waiting for stock that the network changed; one that has moved on ignores it."""

        async def one(order_id: str) -> None:
            with contextlib.suppress(WorkflowNotFound):
                await call(
                    self._handle(tenant, order_id).signal(OrderWorkflow.network_changed), self._timeout
                )

        await asyncio.gather(*(one(i) for i in order_ids))

    async def exists(self, tenant: str, order_id: str) -> bool:
        """Whether the order's workflow was ever started (running or closed)."""
        try:
            await call(self._handle(tenant, order_id).describe(), self._timeout)
        except WorkflowNotFound:
            return False
        return True
