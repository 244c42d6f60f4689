"""SQLModel tables. Every row carries its tenant; the primary key always starts with it."""

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


class SessionRevisionRow(SQLModel, table=True):
    __tablename__ = "session_revisions"
    __table_args__ = (Index("ix_revisions_tenant_cart", "tenant_id", "cart_id", "at"),)
    tenant_id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(primary_key=True, max_length=64)
    revision: int = Field(primary_key=True)
    cart_id: str = Field(max_length=200)
    action: str = Field(max_length=100)
    from_state: str | None = Field(default=None, max_length=100)
    to_state: str = Field(max_length=100)
    actor: str = Field(max_length=200)
    comment: str | None = None
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    at: datetime


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST with an `Idempotency-Key`, replayed for a retry of the same request."""

    __tablename__ = "idempotency_records"
    tenant_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime
