"""Workflow ids derive from tenant and business key, so starting twice never makes two processes."""

from __future__ import annotations


def session_workflow_id(tenant: str, session_id: str) -> str:
    return f"session:{tenant}:{session_id}"
