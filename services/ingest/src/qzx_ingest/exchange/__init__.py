"""Inbound violations from the ministry and the province/cities (HMAC-signed, docs/contract.md)."""
