"""Settings: a leaf package: it imports nothing of ours, and every package but
`domain` (which stays free of configuration) may import it."""
