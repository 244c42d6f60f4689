"""Pure, deterministic types and rules. Imports nothing of ours, so workflows can use it."""
