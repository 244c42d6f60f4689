"""Every side effect: writes to storage, partner HTTP calls, devices and notification channels."""
