"""Settings: a leaf package every other one may import; it imports nothing of ours."""
