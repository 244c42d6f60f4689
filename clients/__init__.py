"""The client side of Temporal: starting, updating, querying and signalling workflows from outside one."""
