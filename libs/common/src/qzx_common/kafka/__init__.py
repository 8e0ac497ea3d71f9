"""Kafka plumbing: topic admin, the manual-commit consumer runner, the transactional outbox."""
