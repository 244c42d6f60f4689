"""SQL storage: configuration, tenants and keys, read models and the revision trail."""
