"""Push providers spoken over HTTP: APNs (HTTP/2), FCM HTTP v1 and Web Push (RFC 8030/8291)."""
