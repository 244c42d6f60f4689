"""Timer steps of process definitions, on the time-skipping test server: days pass in milliseconds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from clients.changes import ChangeClient
from clients.orders import OrderClient
from clients.sessions import SessionClient
from domain.builtins import CLICK_AND_COLLECT, WEB_ORDER
from domain.changes import PROPOSED, ChangeSet, ChangeStart, ChangeView
from domain.ids import change_workflow_id, new_change_id, options_hold_workflow_id
from domain.orders import OptionsHold
from domain.process import ProcessDefinition, validate_definition
from domain.session import ActionRequest, SessionStart
from domain.sourcing.model import InventoryPosition
from domain.sourcing.options import EXPIRED, SELECTED, STATUS_PROVIDED
from storage import changes, events, network, options, reservations, sessions
from storage.reservations import Hold
from tests.workflows.test_change_workflow import proposal
from workflows.change import ChangeProposalWorkflow

QUEUE = "skip-sessions"


def _start(definition: ProcessDefinition) -> SessionStart:
    return SessionStart(
        tenant="timers",
        session_id=f"ses_{uuid.uuid4().hex[:12]}",
        cart_id=f"cart-{uuid.uuid4().hex[:6]}",
        definition=definition,
    )


def on(env: WorkflowEnvironment) -> SessionClient:
    return SessionClient(env.client, QUEUE, None)


async def test_uncollected_click_and_collect_expires_after_three_days(
    skipping: WorkflowEnvironment, engine: Engine
) -> None:
    start = _start(CLICK_AND_COLLECT)
    await on(skipping).start(start)
    for action in ("confirm", "pick", "mark_ready"):
        await on(skipping).act("timers", start.session_id, ActionRequest(action=action))
    ready_at = (await on(skipping).view("timers", start.session_id)).updated_at

    await skipping.sleep(timedelta(days=2, hours=23))
    assert (await on(skipping).view("timers", start.session_id)).status == "READY_FOR_PICKUP"

    await skipping.sleep(timedelta(hours=1))
    final = await on(skipping).view("timers", start.session_id)
    assert final.status == "NOT_COLLECTED" and final.terminal
    assert timedelta(days=3) <= final.updated_at - ready_at < timedelta(days=3, seconds=1)
    last = sessions.cart_revisions(engine, "timers", start.cart_id)[-1]
    assert (last.action, last.actor, last.to) == ("expire", "system:timer", "NOT_COLLECTED")


async def test_an_action_before_the_timer_cancels_it(skipping: WorkflowEnvironment) -> None:
    start = _start(WEB_ORDER)
    await on(skipping).start(start)
    for action in ("confirm", "pick", "pack", "ship", "deliver"):
        await on(skipping).act("timers", start.session_id, ActionRequest(action=action))
    await skipping.sleep(timedelta(days=13))
    await on(skipping).act("timers", start.session_id, ActionRequest(action="request_return"))
    await skipping.sleep(timedelta(days=30))
    view = await on(skipping).view("timers", start.session_id)
    assert view.status == "RETURN_REQUESTED" and view.revision == 6


async def test_timer_of_a_registered_definition(skipping: WorkflowEnvironment) -> None:
    definition = validate_definition(
        {
            "type": "QUOTE",
            "version": 1,
            "states": [
                {"name": "OPEN", "steps": [{"kind": "timer", "afterSeconds": 3600, "action": "lapse"}]},
                {"name": "ACCEPTED"},
                {"name": "LAPSED"},
            ],
            "initialState": "OPEN",
            "terminalStates": ["ACCEPTED", "LAPSED"],
            "transitions": [
                {"from": "OPEN", "action": "accept", "to": "ACCEPTED"},
                {"from": "OPEN", "action": "lapse", "to": "LAPSED"},
            ],
        }
    )
    start = _start(definition)
    await on(skipping).start(start)
    began = await skipping.get_current_time()  # workflow time (the API's clock is not, on this server)
    await on(skipping).view("timers", start.session_id)  # its first task has run: the timer is set
    await skipping.sleep(timedelta(minutes=59))
    assert (await on(skipping).view("timers", start.session_id)).status == "OPEN"
    await skipping.sleep(timedelta(minutes=1))
    final = await on(skipping).view("timers", start.session_id)
    assert final.status == "LAPSED"
    assert timedelta(hours=1) <= final.updated_at - began < timedelta(hours=1, seconds=2)


async def test_a_selected_plan_not_confirmed_in_time_expires_and_its_stock_is_free_again(
    skipping: WorkflowEnvironment, engine: Engine
) -> None:
    tenant, options_id, plan_id = "timers", f"opt-{uuid.uuid4().hex[:8]}", f"plan-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    network.upsert_inventory(
        engine, tenant, [InventoryPosition(location_ref="L", sku_ref="S", on_hand=5)], now
    )
    options.save(engine, tenant, options_id, {"status": STATUS_PROVIDED, "plans": []}, now)
    reservations.reserve(
        engine, tenant, None, [Hold(owner_id=plan_id, location_ref="L", sku_ref="S", quantity=2)], now, "plan"
    )
    assert options.move(engine, tenant, options_id, STATUS_PROVIDED, SELECTED, now, selectedPlanId=plan_id)
    client = OrderClient(skipping.client, QUEUE, None)
    other = OptionsHold(tenant=tenant, options_id=options_id, plan_id="plan-never-selected", seconds=60)
    await client.hold_options(other)  # a selection of another plan that never got through
    hold = OptionsHold(tenant=tenant, options_id=options_id, plan_id=plan_id, seconds=900)
    await client.hold_options(hold)
    handle = skipping.client.get_workflow_handle(options_hold_workflow_id(tenant, options_id, plan_id))
    await skipping.sleep(timedelta(minutes=2))
    stale = skipping.client.get_workflow_handle(options_hold_workflow_id(tenant, options_id, other.plan_id))
    assert await stale.result() is False  # its timer ran out: not the selected plan, nothing expired
    await skipping.sleep(timedelta(minutes=12))
    assert options.get(engine, tenant, options_id)["status"] == SELECTED  # still held
    await skipping.sleep(timedelta(minutes=2))
    assert await handle.result() is True
    assert options.get(engine, tenant, options_id)["status"] == EXPIRED
    assert reservations.of_position(engine, tenant, "L", "S") == []
    assert network.inventory(engine, tenant, location_ref="L")[0].reserved_by_orders == 0


async def test_an_undecided_change_proposal_expires_and_says_so(
    skipping: WorkflowEnvironment, engine: Engine
) -> None:
    start = _start(CLICK_AND_COLLECT)
    await on(skipping).start(start)
    now = await skipping.get_current_time()
    later = ChangeSet(
        pickup_time=datetime(2030, 6, 3, 10, tzinfo=UTC)
    )  # the server's clock has run far ahead
    change = proposal(
        now,
        4 * 3600,
        change_id=new_change_id(),
        session_id=start.session_id,
        cart_id=start.cart_id,
        changes=later,
    ).view
    await ChangeClient(skipping.client, QUEUE, None).propose(ChangeStart(tenant="timers", view=change))
    handle: WorkflowHandle[ChangeProposalWorkflow, ChangeView] = skipping.client.get_workflow_handle_for(
        ChangeProposalWorkflow.run, change_workflow_id("timers", start.session_id)
    )
    await skipping.sleep(timedelta(hours=3, minutes=59))
    assert changes.get(engine, "timers", change.id).status == PROPOSED
    await skipping.sleep(timedelta(minutes=2))
    assert (await handle.result()).status == "EXPIRED"
    assert changes.get(engine, "timers", change.id).status == "EXPIRED"
    logged = events.list_events(engine, "timers", subject=change.id)
    assert [e.type for e in logged] == ["change.proposed", "change.expired"]
    assert (await on(skipping).view("timers", start.session_id)).context == {}  # untouched
