"""Partner adapters: a partner whose API is not the contract in docs/partners.md plugs in as a class.

A package exposes it in the entry-point group `fulfillment.adapters`:

    [project.entry-points."fulfillment.adapters"]
    acme-oms = "acme_oms:AcmeOms"

and a connector names it (`"adapter": "acme-oms"`). The class, made once without arguments,
translates each call the orchestrator makes in the contract's terms into the partner's own, the
partner's answer back, and the partner's events into the contract's. Everything else stays the
orchestrator's: auth, `Idempotency-Key`, retries, the address guard, signature checks, the log of
calls and events. `examples/acme_oms` is a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol

GROUP = "fulfillment.adapters"


@dataclass(frozen=True)
class Request:
    """A call to a partner: in the contract's terms (what a step or a workflow asks), or the partner's."""

    method: str
    path: str  # appended to the connector's base URL
    body: Any


class PartnerAdapter(Protocol):
    def request(self, request: Request) -> Request:
        """The partner's own call for the contract's `request` (e.g. `POST /outbound-orders`)."""
        ...

    def answer(self, request: Request, status: int, body: Any) -> Any:
        """The contract's answer to `request` from the partner's 2xx `body` (its JSON, or None)."""
        ...

    def event(self, body: Any) -> dict[str, Any]:
        """The contract's event (`{"type", "reference"?, "data"}`) for the partner's signed event body;
        ValueError (its message shown to the partner) when the body is not one."""
        ...


class BadAdapter(RuntimeError):
    """An entry point that does not load into an adapter: named, so a deployment fails at start."""


@cache
def adapters() -> dict[str, PartnerAdapter]:
    """Every installed adapter by its entry point's name."""
    found: dict[str, PartnerAdapter] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        where = f"entry point {entry.name!r} ({entry.value}) of {GROUP}"
        try:
            adapter = entry.load()()
        except Exception as e:  # a package that fails to import, or a class that fails to build
            raise BadAdapter(f"{where} failed to load: {e}") from e
        if not all(callable(getattr(adapter, m, None)) for m in ("request", "answer", "event")):
            raise BadAdapter(f"{where}: {type(adapter).__name__} lacks request, answer or event")
        found[entry.name] = adapter
    return found


def adapter_of(name: str | None) -> PartnerAdapter | None:
    """The named adapter (None for none); KeyError for one that is not installed."""
    return None if name is None else adapters()[name]
