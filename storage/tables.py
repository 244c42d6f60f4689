"""SQLModel tables. Tenant-owned rows carry `tenant_id`, and most primary keys start with it; the
exceptions (tenants itself, api_keys, events, webhook_attempts, live_feed_tickets,
live_feed_subscriptions, connectors, partner_events and partner_calls) have a global id and a
`tenant_id` column that every query filters by."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime


class ApiKey(SQLModel, table=True):
    """An API key: only the SHA-256 of the secret is stored; `id` is the public part of the key."""

    __tablename__ = "api_keys"
    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    key_hash: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    label: str = Field(default="", max_length=200)
    created_at: datetime
    revoked_at: datetime | None = None


class ProcessDefinitionRow(SQLModel, table=True):
    __tablename__ = "process_definitions"
    tenant_id: str = Field(primary_key=True, max_length=64)
    type: str = Field(primary_key=True, max_length=100)
    version: int = Field(primary_key=True)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime


class SessionRow(SQLModel, table=True):
    """Read model of a session, for lists and searches; the workflow stays the source of truth."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_tenant_status", "tenant_id", "status"),
        Index("ix_sessions_tenant_cart", "tenant_id", "cart_id"),
        Index("ix_sessions_tenant_type", "tenant_id", "process_type"),
        Index("ix_sessions_tenant_created", "tenant_id", "created_at"),
        Index("ix_sessions_tenant_reference", "tenant_id", "reference"),
    )
    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    process_type: str = Field(max_length=100)
    process_version: int
    cart_id: str = Field(max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=100)
    terminal: bool
    revision: int
    allowed_actions: list[str] = Field(sa_column=Column(JSON, nullable=False))
    context: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
    updated_at: datetime


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST with an `Idempotency-Key`, replayed for a retry of the same request."""

    __tablename__ = "idempotency_records"
    tenant_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime


class EventRow(SQLModel, table=True):
    """The event log. `cursor` orders all events; `sequence` is gapless per subject from 1."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ux_events_subject_sequence", "tenant_id", "subject", "sequence", unique=True),
        Index("ix_events_tenant_cursor", "tenant_id", "cursor"),
        Index("ix_events_tenant_occurred", "tenant_id", "occurred_at"),
    )
    cursor: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=40, unique=True)
    tenant_id: str = Field(max_length=64)
    type: str = Field(max_length=100)
    subject: str = Field(max_length=200)
    sequence: int
    occurred_at: datetime
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class WebhookRow(SQLModel, table=True):
    __tablename__ = "webhooks"
    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=500)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=500)  # encrypted: `fernet:<token>` (storage/secrets.py)
    previous_secret: str | None = Field(default=None, max_length=500)
    previous_secret_expires_at: datetime | None = None
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=200)
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    start_cursor: int = 0
    created_at: datetime
    updated_at: datetime


class WebhookProgressRow(SQLModel, table=True):
    """How far one subject's events have been handled (delivered or given up) for one webhook."""

    __tablename__ = "webhook_progress"
    tenant_id: str = Field(primary_key=True, max_length=64)
    webhook_id: str = Field(primary_key=True, max_length=40)
    subject: str = Field(primary_key=True, max_length=200)
    last_sequence: int
    # Counts recoveries: a delivery read before one never moves the subject past what it rewound.
    rewinds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class WebhookAttemptRow(SQLModel, table=True):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_attempts_webhook", "tenant_id", "webhook_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    webhook_id: str = Field(max_length=40)
    event_id: str = Field(max_length=40)
    event_type: str = Field(max_length=100)
    attempt: int
    outcome: str = Field(max_length=20)
    status_code: int | None = None
    response_excerpt: str = Field(default="", max_length=500)
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int
    at: datetime


class LiveFeedTicket(SQLModel, table=True):
    """A single-use ticket for browsers, which cannot set headers on a WebSocket or EventSource."""

    __tablename__ = "live_feed_tickets"
    ticket_hash: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    key_id: str = Field(max_length=32)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    expires_at: datetime
    used_at: datetime | None = None


class LiveFeedSubscriptionRow(SQLModel, table=True):
    """A live subscription, registered so that any replica can list or end it."""

    __tablename__ = "live_feed_subscriptions"
    __table_args__ = (Index("ix_feed_subscriptions_tenant", "tenant_id"),)
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=64)
    replica: str = Field(max_length=64, index=True)
    connection: str = Field(max_length=40)
    filters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
    seen_at: datetime


class PushApplicationRow(SQLModel, table=True):
    """A push application: its platform and credentials (encrypted; never returned by the API)."""

    __tablename__ = "push_applications"
    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=40)
    platform: str = Field(max_length=20)
    name: str = Field(max_length=200)
    credentials: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime


class DeviceTokenRow(SQLModel, table=True):
    """A device (token, or Web Push subscription) subscribed to sessions or carts."""

    __tablename__ = "device_tokens"
    __table_args__ = (Index("ix_device_tokens_tenant_active", "tenant_id", "active"),)
    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(max_length=40)
    token: str | None = Field(default=None, max_length=4096)
    subscription: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    filters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    active: bool = True
    deactivated_reason: str | None = Field(default=None, max_length=300)
    created_at: datetime
    updated_at: datetime


class LocationRow(SQLModel, table=True):
    __tablename__ = "locations"
    tenant_id: str = Field(primary_key=True, max_length=64)
    ref: str = Field(primary_key=True, max_length=100)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Fulfillments routed here since the last PUT (less those cancelled or routed elsewhere): what
    # `capacityUsed` adds to the figure the PUT gave.
    routed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime


class InventoryRow(SQLModel, table=True):
    __tablename__ = "inventory_positions"
    __table_args__ = (Index("ix_inventory_tenant_sku", "tenant_id", "sku_ref"),)
    tenant_id: str = Field(primary_key=True, max_length=64)
    location_ref: str = Field(primary_key=True, max_length=100)
    sku_ref: str = Field(primary_key=True, max_length=100)
    on_hand: int
    reserved: int  # reserved outside the orchestrator (what PUT /inventory says)
    safety_stock: int
    committed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # this tenant's reservations
    updated_at: datetime


class NetworkVersionRow(SQLModel, table=True):
    """Bumped by every change of a tenant's locations, inventory or sourcing profile, so cached network
    snapshots know they are stale."""

    __tablename__ = "network_versions"
    tenant_id: str = Field(primary_key=True, max_length=64)
    version: int


class SourcingProfileRow(SQLModel, table=True):
    __tablename__ = "sourcing_profiles"
    tenant_id: str = Field(primary_key=True, max_length=64)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime


class FulfillmentOptionsRow(SQLModel, table=True):
    __tablename__ = "fulfilment_options"  # predates the spelling rule; a rename needs a migration
    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=100)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
    updated_at: datetime


class OrderRow(SQLModel, table=True):
    """Read model of an order, for lists and searches; the order's workflow is the source of truth."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_tenant_status", "tenant_id", "status"),
        Index("ix_orders_tenant_order_id", "tenant_id", "tenant_order_id"),
    )
    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    tenant_order_id: str = Field(max_length=200)
    status: str = Field(max_length=40)
    version: int
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created: datetime
    last_modified: datetime


class OrderClaimRow(SQLModel, table=True):
    """Held while an order with this tenantOrderId is OPEN, LOCKED or PROMISED: a second one is refused."""

    __tablename__ = "order_claims"
    tenant_id: str = Field(primary_key=True, max_length=64)
    tenant_order_id: str = Field(primary_key=True, max_length=200)
    order_id: str = Field(max_length=64)
    claimed_at: datetime | None = None


class FulfillmentRow(SQLModel, table=True):
    __tablename__ = "fulfillments"
    __table_args__ = (Index("ix_fulfillments_order", "tenant_id", "order_id"),)
    tenant_id: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(max_length=64)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ConfigurationRow(SQLModel, table=True):
    __tablename__ = "configurations"
    tenant_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=64)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class ConnectorRow(SQLModel, table=True):
    """A partner system of a tenant, by name. `auth` holds its credentials encrypted as one JSON document
    (`{"$encrypted": …}`, storage/secrets.py), the inbound secrets are encrypted strings."""

    __tablename__ = "connectors"
    __table_args__ = (Index("ux_connectors_tenant_name", "tenant_id", "name", unique=True),)
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=20)
    base_url: str = Field(max_length=2000)
    auth: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    inbound_secret: str = Field(max_length=500)  # encrypted: `fernet:<token>`
    previous_inbound_secret: str | None = Field(default=None, max_length=500)
    previous_inbound_secret_expires_at: datetime | None = None
    timeout_seconds: float
    headers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    adapter: str | None = Field(default=None, max_length=100)  # a `fulfillment.adapters` entry point
    created_at: datetime
    updated_at: datetime


class PartnerEventRow(SQLModel, table=True):
    """An event a partner sent through a connector (`webhook-id` de-duplicates), and the session it
    matched, if any."""

    __tablename__ = "partner_events"
    __table_args__ = (
        Index("ux_partner_events_message", "connector_id", "message_id", unique=True),
        Index("ix_partner_events_connector", "tenant_id", "connector_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    connector_id: str = Field(max_length=40)
    message_id: str = Field(max_length=255)
    type: str = Field(max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    session_id: str | None = Field(default=None, max_length=64)
    delivered: bool = False
    received_at: datetime


class PartnerCallRow(SQLModel, table=True):
    """One attempt of a process's call to a connector: what was sent and how it went."""

    __tablename__ = "partner_calls"
    __table_args__ = (Index("ix_partner_calls_session", "tenant_id", "session_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    session_id: str = Field(max_length=64)
    connector: str = Field(max_length=100)
    step: str = Field(max_length=200)
    idempotency_key: str = Field(max_length=200)
    attempt: int
    method: str = Field(max_length=10)
    url: str = Field(max_length=4000)
    outcome: str = Field(max_length=20)
    status_code: int | None = None
    duration_ms: int
    response_excerpt: str = Field(default="", max_length=500)
    error: str | None = Field(default=None, max_length=500)
    at: datetime


class QuoteRow(SQLModel, table=True):
    """A carrier's price for a shipment, as a pricing request returned it: kept to reconcile a booked
    shipment against what it was promised."""

    __tablename__ = "pricing_quotes"
    __table_args__ = (Index("ix_quotes_tenant_created", "tenant_id", "created_at"),)
    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=64)
    provider: str = Field(max_length=100)
    service_type: str = Field(max_length=40)
    rate_type: str = Field(max_length=40)
    amount: float
    currency: str = Field(max_length=10)
    eta_days: int
    request: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
    expires_at: datetime


class TrackingRow(SQLModel, table=True):
    """A shipment's tracking number at a carrier connector, and the session it belongs to: how a
    carrier event that names only its tracking number finds its outbound."""

    __tablename__ = "shipment_tracking"
    tenant_id: str = Field(primary_key=True, max_length=64)
    connector_id: str = Field(primary_key=True, max_length=40)
    tracking_number: str = Field(primary_key=True, max_length=100)
    session_id: str = Field(max_length=64)
    order_id: str | None = Field(None, max_length=64)  # a fulfillment's shipment: its order takes the events
    fulfillment_id: str | None = Field(None, max_length=64)
    created_at: datetime


class ReservationRow(SQLModel, table=True):
    """Stock a routed fulfillment holds at a location, until it ships (consumed) or is cancelled or
    routed again (released): the rows that explain an inventory position's `committed`."""

    __tablename__ = "reservations"
    __table_args__ = (
        Index("ix_reservations_position", "tenant_id", "location_ref", "sku_ref"),
        Index("ix_reservations_owner", "tenant_id", "owner_id"),
    )
    id: str = Field(primary_key=True, max_length=64)  # derived from owner, location and SKU
    tenant_id: str = Field(max_length=64)
    location_ref: str = Field(max_length=100)
    sku_ref: str = Field(max_length=100)
    quantity: int
    owner_kind: str = Field(max_length=20)  # `fulfillment`
    owner_id: str = Field(max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    created_at: datetime


class ChangeProposalRow(SQLModel, table=True):
    """A change proposal on a session, as its workflow last recorded it (`body`: the whole view)."""

    __tablename__ = "change_proposals"
    __table_args__ = (Index("ix_change_proposals_cart", "tenant_id", "cart_id", "created_at"),)
    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    cart_id: str = Field(max_length=100)
    session_id: str = Field(max_length=100)
    status: str = Field(max_length=20)
    created_at: datetime
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
