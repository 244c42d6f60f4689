"""Process steps that reach partners: templates, and the validation of call, await and notify steps."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidDefinition
from domain.partners import outcome
from domain.process import validate_definition
from domain.templates import render, render_path

SCOPE = {
    "session": {"id": "ses_1", "reference": "R 1/2", "context": {"weight": 2.5, "tags": ["a"]}},
    "data": {"locker": 7},
}


def test_a_lone_placeholder_keeps_the_value_and_text_interpolates() -> None:
    template = {
        "ref": "{{session.reference}}",
        "weight": "{{ session.context.weight }}",
        "tags": "{{session.context.tags}}",
        "note": "locker {{data.locker}} for {{session.id}} {{session.context.tags}}",
        "missing": "{{session.context.nope}}",
        "inText": "[{{data.nope}}]",
        "list": ["{{data.locker}}", 3, None],
    }
    assert render(template, SCOPE) == {
        "ref": "R 1/2",
        "weight": 2.5,
        "tags": ["a"],
        "note": 'locker 7 for ses_1 ["a"]',
        "missing": None,
        "inText": "[]",
        "list": [7, 3, None],
    }


def test_a_path_encodes_each_value_so_it_stays_one_segment() -> None:
    assert (
        render_path("/orders/{{session.reference}}/lockers/{{data.locker}}", SCOPE)
        == "/orders/R%201%2F2/lockers/7"
    )


def test_answers_that_retry_and_answers_that_refuse() -> None:
    assert [outcome(s) for s in (200, 201, 204)] == ["succeeded"] * 3
    assert [outcome(s) for s in (400, 404, 409, 422)] == ["refused"] * 4
    assert [outcome(s) for s in (408, 429, 500, 502, 503, 302)] == ["failed"] * 6


def definition(steps: list[dict[str, Any]], extra: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "type": "PARTNERED",
        "states": [{"name": "NEW", "steps": steps}, {"name": "DONE"}, {"name": "FAILED"}],
        "initialState": "NEW",
        "terminalStates": ["DONE", "FAILED"],
        "transitions": [
            {"from": "NEW", "action": "succeed", "to": "DONE"},
            {"from": "NEW", "action": "fail", "to": "FAILED"},
            *(extra or []),
        ],
    }


CALL = {"kind": "call", "connector": "oms", "path": "/orders", "onSuccess": "succeed", "onFailure": "fail"}


def errors(body: dict[str, Any], connectors: set[str] | None = None) -> dict[str, str]:
    with pytest.raises(InvalidDefinition) as e:
        validate_definition(body, connectors)
    return {err.field or "": err.code for err in e.value.errors}


def test_a_valid_definition_with_every_kind_of_step() -> None:
    d = validate_definition(
        definition(
            [
                {**CALL, "body": {"ref": "{{session.reference}}"}, "resultKey": "oms", "maxAttempts": 3},
                {"kind": "await", "event": "outbound.confirmed", "action": "succeed"},
                {
                    "kind": "await",
                    "event": "outbound.rejected",
                    "action": "fail",
                    "timeoutSeconds": 60,
                    "onTimeout": "fail",
                },
                {"kind": "notify", "event": "submitted", "payload": {"at": "{{session.status}}"}},
            ]
        ),
        {"oms"},
    )
    assert [s.kind for s in d.states[0].steps] == ["call", "await", "await", "notify"]


@pytest.mark.parametrize(
    ("steps", "field", "code"),
    [
        ([{**CALL, "connector": "wms"}], "states[0].steps[0].connector", "UNKNOWN_CONNECTOR"),
        ([{**CALL, "onSuccess": "ship"}], "states[0].steps[0].onSuccess", "UNKNOWN_ACTION"),
        ([{**CALL, "onFailure": None}], "states[0].steps[0].onFailure", "MISSING_ON_FAILURE"),
        ([CALL, CALL], "states[0].steps[1]", "RACING_CALLS"),
        ([{**CALL, "body": {"x": "{{cart.id}}"}}], "states[0].steps[0].body", "UNKNOWN_PLACEHOLDER"),
        ([{**CALL, "path": "/o/{{session.nope}}"}], "states[0].steps[0].path", "UNKNOWN_PLACEHOLDER"),
        ([{**CALL, "path": "orders"}], "states[0].steps[0].path", "INVALID_FIELD"),
        ([{**CALL, "maxAttempts": 0}], "states[0].steps[0].maxAttempts", "INVALID_FIELD"),
        ([{"kind": "await", "event": "x.y", "action": "go"}], "states[0].steps[0].action", "UNKNOWN_ACTION"),
        (
            [
                {"kind": "await", "event": "x.y", "action": "succeed"},
                {"kind": "await", "event": "x.y", "action": "fail"},
            ],
            "states[0].steps[1].event",
            "DUPLICATE_AWAIT",
        ),
        (
            [{"kind": "await", "event": "x.y", "action": "succeed", "timeoutSeconds": 5}],
            "states[0].steps[0].onTimeout",
            "INCOMPLETE_TIMEOUT",
        ),
        (
            [{"kind": "await", "event": "Bad", "action": "succeed"}],
            "states[0].steps[0].event",
            "INVALID_FIELD",
        ),
        (
            [{"kind": "notify", "event": "x", "payload": "{{data}}"}],
            "states[0].steps[0].payload",
            "UNKNOWN_PLACEHOLDER",
        ),
        ([{"kind": "launch"}], "states[0].steps[0]", "INVALID_FIELD"),
    ],
)
def test_each_mistake_is_named_by_its_field(steps: list[dict[str, Any]], field: str, code: str) -> None:
    found = errors(definition(steps), {"oms"})
    assert any(f.startswith(field) and c == code for f, c in found.items()), found


def test_connectors_are_checked_only_when_the_caller_knows_them() -> None:
    assert validate_definition(definition([{**CALL, "connector": "anything"}])).states[0].steps


def test_a_value_in_a_path_cannot_climb_out_of_it() -> None:
    for value in ("..", "."):
        assert (
            render_path("/orders/{{data.r}}/submit", {"data": {"r": value}})
            == f"/orders/{'%2E' * len(value)}/submit"
        )
    assert render_path("/o/{{data.r}}", {"data": {"r": "a..b"}}) == "/o/a..b"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (
            lambda d: d["states"][0]["steps"].append({**CALL, "path": "/a/../admin"}),
            "states[0].steps[0].path",
            "DOT_SEGMENT",
        ),
        (
            lambda d: d["states"][1].update(
                steps=[{"kind": "timer", "afterSeconds": 5, "action": "succeed"}]
            ),
            "states[1].steps[0]",
            "TERMINAL_STEP",
        ),
        (
            lambda d: d["states"][0]["steps"].extend(
                [
                    {"kind": "timer", "afterSeconds": 5, "action": "succeed"},
                    {"kind": "timer", "afterSeconds": 1, "action": "fail"},
                ]
            ),
            "states[0].steps[1]",
            "TWO_TIMERS",
        ),
        (lambda d: d.update(description="bad \ud800 text"), "description", "INVALID_TEXT"),
        (
            lambda d: d["states"][0]["steps"].append({**CALL, "body": {"k": "\ud800"}}),
            "states[0].steps[0].body.k",
            "INVALID_TEXT",
        ),
    ],
)
def test_steps_that_could_never_run_as_written_are_refused(change: Any, field: str, code: str) -> None:
    body = definition([])
    change(body)
    assert errors(body, {"oms"}).get(field) == code


def test_a_terminal_state_may_notify() -> None:
    body = definition([])
    body["states"][1]["steps"] = [{"kind": "notify", "event": "done"}]
    assert validate_definition(body).states[1].steps[0].kind == "notify"
