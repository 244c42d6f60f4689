"""Temporal workflow classes: deterministic and sandbox-safe; they import only `domain`."""
