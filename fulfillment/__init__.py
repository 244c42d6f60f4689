"""Cross-cutting pieces of the orchestrator: settings, logging and the `fulfillment` CLI."""
