"""Message contracts shared between services (docs/contract.md)."""
