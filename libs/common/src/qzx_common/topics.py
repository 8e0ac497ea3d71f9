"""Kafka topic names: part of the public contract (DESIGN.md §3)."""

CAMERA_VIOLATIONS = "camera.violations.v1"
CAMERA_VIOLATIONS_DLQ = "camera.violations.v1.dlq"
VIOLATIONS_ACCEPTED = "violations.accepted.v1"
ALERTS = "alerts.v1"
DISPATCH_TASKS = "dispatch.tasks.v1"

ALL_TOPICS = (CAMERA_VIOLATIONS, CAMERA_VIOLATIONS_DLQ, VIOLATIONS_ACCEPTED, ALERTS, DISPATCH_TASKS)
PARTITIONS = 4

# Dead-letter headers.
HEADER_ERROR = "qzx-error"
HEADER_SOURCE_TOPIC = "qzx-source-topic"
HEADER_SOURCE_OFFSET = "qzx-source-offset"
