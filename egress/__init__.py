"""Calls out of the product to URLs that tenants and partners give: one address guard for all of them."""
