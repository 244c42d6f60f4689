"""Cross-cutting pieces of the orchestrator: logging, the dev stack, CSV imports and the `fulfillment` CLI."""
