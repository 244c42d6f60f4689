"""The FastAPI front door: one router per resource family, auth, errors and idempotency;
it reaches Temporal only through `clients/`."""
