"""Inbound violations from the ministry and the province/cities (HMAC-signed, DESIGN.md §3)."""
