"""The FastAPI front door: one router per resource family, auth, errors and the Temporal client."""
