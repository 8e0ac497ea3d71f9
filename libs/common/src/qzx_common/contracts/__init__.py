"""Message contracts shared between services (DESIGN.md §3)."""
