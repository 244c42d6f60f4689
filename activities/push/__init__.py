"""Push providers: FCM HTTP v1, APNs (HTTP/2, token auth) and Web Push (VAPID, aes128gcm)."""
