"""Every workflow id and every id derived from another: one module, so the formats cannot drift.

Workflow ids derive from tenant and business key, so starting twice never makes two processes.
Derived ids are deterministic (hashes, UUIDv5), so a retried activity or replayed workflow makes
the same id again instead of a second object.
"""

from __future__ import annotations

import hashlib
import uuid

# Workflow ids


def session_workflow_id(tenant: str, session_id: str) -> str:
    return f"session:{tenant}:{session_id}"


def order_workflow_id(tenant: str, order_id: str) -> str:
    return f"order:{tenant}:{order_id}"


def dispatcher_workflow_id(tenant: str, webhook_id: str, shard: int) -> str:
    """A webhook's dispatchers: each subject always goes to the same one, which keeps it in order."""
    return f"webhook:{tenant}:{webhook_id}/{shard}"


def dispatcher_shard(subject: str, shards: int) -> int:
    """The dispatcher of a subject: a stable hash (Python's `hash` is salted per process)."""
    return int.from_bytes(hashlib.sha256(subject.encode()).digest()[:4], "big") % shards


def options_hold_workflow_id(tenant: str, options_id: str, plan_id: str) -> str:
    """One hold per selected plan: a retried selection is the same timer, another plan its own."""
    return f"options-hold:{tenant}:{options_id}:{plan_id}"


def change_workflow_id(tenant: str, session_id: str) -> str:
    """A session's change proposal: one open at a time per session is Temporal's own guarantee (one
    running workflow per id); a decided proposal's run has closed, so the next one may start."""
    return f"change:{tenant}:{session_id}"


def push_workflow_id(tenant: str, event_id: str) -> str:
    """One push workflow per event, so publishing an event twice never pushes it twice."""
    return f"push:{tenant}:{event_id}"


# New ids of things the API creates


def new_order_id() -> str:
    return str(uuid.uuid4())


def new_options_id() -> str:
    return str(uuid.uuid4())


def new_connector_id() -> str:
    return "con_" + uuid.uuid4().hex[:20]


def new_change_id() -> str:
    return "chg_" + uuid.uuid4().hex[:24]


def new_quote_id() -> str:
    return "q_" + uuid.uuid4().hex[:20]


# Ids derived from other ids


def new_session_id(tenant: str, idempotency_key: str | None) -> str:
    """A session started with an Idempotency-Key gets the same id on every retry; otherwise a fresh one."""
    if idempotency_key is None:
        return "ses_" + uuid.uuid4().hex[:24]
    return _session_id(f"{tenant}:{idempotency_key}")


def fulfillment_session_id(fulfillment_id: str) -> str:
    """The session that carries a routed fulfillment."""
    return _session_id(fulfillment_id)


def outbound_session_id(tenant: str, tracking_id_shipper: str) -> str:
    """An outbound's session: its `trackingIdShipper` is its key, so a resent outbound is the same one."""
    return "out_" + hashlib.sha256(f"{tenant}\x00{tracking_id_shipper}".encode()).hexdigest()[:24]


def _session_id(seed: str) -> str:
    return "ses_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def session_action_update_id(idempotency_key: str | None) -> str | None:
    """The Update id of an action sent with an Idempotency-Key: a retry is the same Update, applied once."""
    return f"act:{idempotency_key}" if idempotency_key else None


def session_move_update_id(session_id: str, revision: int, action: str) -> str:
    """The Update id of a step an order takes its fulfillment's session: one per (revision, action)."""
    return f"{session_id}:{revision}:{action}"


def shipment_update_id(fulfillment_id: str, shipment_json: str) -> str:
    """The Update id of a shipment PUT: the same shipment sent again is the same Update, applied once."""
    return f"shipment:{fulfillment_id}:{hashlib.sha256(shipment_json.encode()).hexdigest()[:32]}"


def fulfillment_id(order_id: str, generation: int, location_ref: str) -> str:
    """A fulfillment of one routing of an order at one location; a new routing makes new ids."""
    return str(uuid.uuid5(uuid.UUID(order_id), f"{generation}:{location_ref}"))


def order_line_id(order_id: str, n: int) -> str:
    return str(uuid.uuid5(uuid.UUID(order_id), str(n)))


def order_process_id(order_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(order_id), "process"))


def plan_id(options_id: str, n: int) -> str:
    return str(uuid.uuid5(uuid.UUID(options_id), str(n)))


def event_id(tenant: str, subject: str, sequence: int) -> str:
    return "evt_" + hashlib.sha256(f"{tenant}\x00{subject}\x00{sequence}".encode()).hexdigest()[:26]


def push_message_id(event_id: str, device_id: str) -> str:
    """The same id on every retry of one push (APNs), so the device can drop a repeat."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{event_id}/{device_id}"))


def call_idempotency_key(session_id: str, revision: int, step: int) -> str:
    """A call step's intent: the session, the revision that entered the state, the step's index."""
    return f"{session_id}:{revision}:{step}"
