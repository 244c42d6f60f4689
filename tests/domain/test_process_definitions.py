"""Process definitions: validation names the offending field; built-ins are valid and sensible."""

from __future__ import annotations

from typing import Any

import pytest

from domain.builtins import BUILTINS
from domain.errors import InvalidDefinition
from domain.examples import gift_wrap
from domain.process import validate_definition


def definition(**overrides: Any) -> dict[str, Any]:
    return gift_wrap(**overrides)


def errors_of(body: dict[str, Any]) -> dict[str | None, str]:
    with pytest.raises(InvalidDefinition) as caught:
        validate_definition(body)
    return {e.field: e.code for e in caught.value.errors}


def test_a_valid_definition_passes() -> None:
    d = validate_definition(definition())
    assert d.allowed_actions("CREATED") == ["wrap", "cancel"]
    assert d.target("WRAPPED", "finish") == "HANDED_OVER"
    assert d.is_terminal("HANDED_OVER") and not d.is_terminal("WRAPPED")


def test_unknown_state_in_a_transition_is_named() -> None:
    body = definition()
    body["transitions"][1]["to"] = "NOWHERE"
    assert errors_of(body) == {"transitions[1].to": "UNKNOWN_STATE"}


def test_no_terminal_state() -> None:
    assert errors_of(definition(terminalStates=[]))["terminalStates"] == "NO_TERMINAL_STATE"


def test_duplicate_action_from_one_state() -> None:
    body = definition()
    body["transitions"].append({"from": "CREATED", "action": "wrap", "to": "CANCELLED"})
    assert errors_of(body) == {"transitions[3].action": "DUPLICATE_ACTION"}


def test_unreachable_state() -> None:
    body = definition()
    body["states"].append({"name": "LIMBO"})
    body["transitions"].append({"from": "LIMBO", "action": "finish", "to": "HANDED_OVER"})
    assert errors_of(body) == {"states[4].name": "UNREACHABLE_STATE"}


def test_dead_end_state_that_cannot_finish() -> None:
    body = definition()
    body["states"].append({"name": "STUCK"})
    body["transitions"].append({"from": "WRAPPED", "action": "lose", "to": "STUCK"})
    assert errors_of(body) == {"states[4].name": "DEAD_END_STATE"}


def test_terminal_state_with_a_transition() -> None:
    body = definition()
    body["transitions"].append({"from": "HANDED_OVER", "action": "reopen", "to": "CREATED"})
    assert errors_of(body) == {"transitions[3].from": "TERMINAL_HAS_TRANSITION"}


def test_names_must_follow_the_conventions() -> None:
    body = definition(type="giftWrap")
    body["transitions"][0]["action"] = "Wrap"
    errors = errors_of(body)
    assert errors == {"type": "INVALID_NAME", "transitions[0].action": "INVALID_NAME"}


def test_timer_must_fire_an_action_of_its_state() -> None:
    body = definition()
    body["states"][1]["steps"] = [{"kind": "timer", "afterSeconds": 60, "action": "cancel"}]
    assert errors_of(body) == {"states[1].steps[0].action": "UNKNOWN_ACTION"}


def test_schema_errors_name_the_field() -> None:
    body = definition()
    del body["transitions"][2]["from"]
    assert errors_of(body) == {"transitions[2].from": "INVALID_FIELD"}


def test_several_problems_are_reported_together() -> None:
    body = definition(initialState="START", terminalStates=["HANDED_OVER", "END"])
    errors = errors_of(body)
    assert errors == {"initialState": "UNKNOWN_STATE", "terminalStates[1]": "UNKNOWN_STATE"}


@pytest.mark.parametrize("process_type", sorted(BUILTINS))
def test_builtins_use_the_seed_actions(process_type: str) -> None:
    d = BUILTINS[process_type]
    assert d.version == 1
    actions = {t.action for t in d.transitions}
    assert {"confirm", "cancel", "reject", "finish"} <= actions
    assert d.allowed_actions(d.initial_state) == ["confirm", "reject", "cancel"]


def test_web_order_has_the_fulfillment_path_and_a_return_branch() -> None:
    d = BUILTINS["WEB_ORDER"]
    status = d.initial_state
    for action in ("confirm", "pick", "pack", "ship", "deliver"):
        next_state = d.target(status, action)
        assert next_state is not None, (status, action)
        status = next_state
    assert status == "DELIVERED"
    for action in ("request_return", "receive_return", "refund"):
        status = d.target(status, action) or "?"
    assert status == "REFUNDED" and d.is_terminal(status)


def test_pickup_lists_name_states_of_the_right_kind_and_only_a_pickup_has_them() -> None:
    mistaken = definition(pickup=True, preparedStates=["NOWHERE"], collectedStates=["WRAPPED", "HANDED_OVER"])
    assert errors_of(mistaken) == {"preparedStates[0]": "UNKNOWN_STATE", "collectedStates[0]": "NOT_TERMINAL"}
    no_pickup = definition(preparedStates=["WRAPPED"], collectedStates=["HANDED_OVER"])
    assert errors_of(no_pickup) == {"preparedStates[0]": "NOT_A_PICKUP", "collectedStates[0]": "NOT_A_PICKUP"}
    body = definition()
    body["transitions"][0]["action"] = "accept_change"  # the session's own
    assert errors_of(body)["transitions[0].action"] == "RESERVED_ACTION"
    pickup = validate_definition(
        definition(pickup=True, preparedStates=["WRAPPED"], collectedStates=["HANDED_OVER"])
    )
    assert pickup.collected_states == ["HANDED_OVER"]
