"""Kafka topic names: part of the public contract (docs/contract.md)."""

CAMERA_VIOLATIONS = "camera.violations.v1"
CAMERA_VIOLATIONS_DLQ = "camera.violations.v1.dlq"
VIOLATIONS_ACCEPTED = "violations.accepted.v1"
ALERTS = "alerts.v1"
DISPATCH_TASKS = "dispatch.tasks.v1"
DISPATCH_ESCALATIONS = "dispatch.escalations.v1"

# Checkpoint watch: every vehicle a checkpoint reads (key device id, value VehiclePassage).
CAMERA_PASSAGES = "camera.passages.v1"
CAMERA_PASSAGES_DLQ = "camera.passages.v1.dlq"
# Every plated passage ingest stored, forwarded normalised (key plate): the checkpoint watch's input.
PASSAGES_ACCEPTED = "passages.accepted.v1"

# Accidents (key accident id, value AccidentReport): reported from the 122 call centre, patrol and
# exchanges; ingest forwards each accepted one, normalised, once.
ACCIDENTS_REPORTED = "accidents.reported.v1"
ACCIDENTS_ACCEPTED = "accidents.accepted.v1"


def dlq_topic(topic: str) -> str:
    """Where a consumer of ``topic`` sends what it cannot apply (docs/contract.md)."""
    return f"{topic}.dlq"


# Every topic a service consumes has a dead-letter topic beside it.
CONSUMED = (
    CAMERA_VIOLATIONS,
    VIOLATIONS_ACCEPTED,
    ALERTS,
    DISPATCH_TASKS,
    CAMERA_PASSAGES,
    PASSAGES_ACCEPTED,
    ACCIDENTS_REPORTED,
    ACCIDENTS_ACCEPTED,
)
# Topics for clients outside the services (consoles, gateways): nobody inside consumes them.
PUBLISHED = (DISPATCH_ESCALATIONS,)
ALL_TOPICS = (*CONSUMED, *PUBLISHED, *(dlq_topic(t) for t in CONSUMED))
PARTITIONS = 4

# Consumer groups (before the topic prefix) and what each consumes: the services join them, and
# `qzx reconcile` reads their committed offsets.
INGEST_GROUP = "qzx-ingest"
ALERTS_GROUP = "qzx-alerts"
ALERTS_TASKS_GROUP = "qzx-alerts-tasks"
DISPATCH_GROUP = "qzx-dispatch"
ALERTS_PASSAGES_GROUP = "qzx-alerts-passages"
INGEST_PASSAGES_GROUP = "qzx-ingest-passages"
INGEST_ACCIDENTS_GROUP = "qzx-ingest-accidents"
ALERTS_ACCIDENTS_GROUP = "qzx-alerts-accidents"
# Counts violations per black-spot cell and day (a group of its own: it reads violations.accepted.v1
# at its own pace, beside the alert scorer).
ALERTS_BLACKSPOTS_GROUP = "qzx-alerts-blackspots"
DISPATCH_ACCIDENTS_GROUP = "qzx-dispatch-accidents"
GROUPS = {
    INGEST_GROUP: CAMERA_VIOLATIONS,
    INGEST_PASSAGES_GROUP: CAMERA_PASSAGES,
    INGEST_ACCIDENTS_GROUP: ACCIDENTS_REPORTED,
    ALERTS_GROUP: VIOLATIONS_ACCEPTED,
    ALERTS_TASKS_GROUP: DISPATCH_TASKS,
    ALERTS_PASSAGES_GROUP: PASSAGES_ACCEPTED,
    ALERTS_ACCIDENTS_GROUP: ACCIDENTS_ACCEPTED,
    ALERTS_BLACKSPOTS_GROUP: VIOLATIONS_ACCEPTED,
    DISPATCH_GROUP: ALERTS,
    DISPATCH_ACCIDENTS_GROUP: ACCIDENTS_ACCEPTED,
}

# Dead-letter headers.
HEADER_ERROR = "qzx-error"
HEADER_SOURCE_TOPIC = "qzx-source-topic"
HEADER_SOURCE_PARTITION = "qzx-source-partition"
HEADER_SOURCE_OFFSET = "qzx-source-offset"
HEADER_CONSUMER = "qzx-consumer"
# On a record `qzx dlq replay` sends back to its source topic: the dead letter it replays,
# ``<schema>/<dead letter id>`` (consumers ignore it; it ties the record to its letter).
HEADER_REPLAY_OF = "qzx-replay-of"
