"""The sourcing engine: where an order's lines should come from, fast and close to optimal."""
