"""Temporal workflow classes: deterministic and sandbox-safe; they import `domain` and the
activity classes they call by reference, nothing that does I/O at import."""
