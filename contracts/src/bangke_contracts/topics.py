"""Kafka topics of the platform, with the partitions and retention each one is created with.

Every topic carries envelopes (see ``envelope.py``). Engineer-centred streams are keyed by the
engineer id so that one engineer's events stay in order; order streams are keyed by the order id.
Each topic has a dead-letter twin named ``<topic>.dlq`` that keeps messages its consumers could
not handle, with the error and the attempt count in the Kafka headers.
"""

from dataclasses import dataclass

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One Kafka topic as the local stack and the tests create it."""

    name: str
    partitions: int
    retention_ms: int
    key: str
    description: str

    @property
    def dead_letter(self) -> str:
        return dead_letter_topic(self.name)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


IDENTITY_ENGINEERS = "identity.engineers.v1"
IDENTITY_ORGANISATION = "identity.organisation.v1"
CERTIFICATES = "certificates.v1"
REVIEWS = "reviews.v1"
QUALIFICATIONS = "qualifications.v1"
EXAMS = "exams.v1"
ORDERS = "orders.v1"
NOTIFICATIONS = "notifications.v1"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        IDENTITY_ENGINEERS, 6, 30 * DAY_MS, "engineer_id",
        "Engineer registration and real-name authentication.",
    ),
    TopicSpec(
        IDENTITY_ORGANISATION, 3, 30 * DAY_MS, "provider_id",
        "Service providers, regions and outlets.",
    ),
    TopicSpec(
        CERTIFICATES, 6, 30 * DAY_MS, "engineer_id",
        "Certificate lifecycle: submitted, took effect, rejected, withdrawn, superseded, expired, reminders.",
    ),
    TopicSpec(
        REVIEWS, 6, 30 * DAY_MS, "engineer_id",
        "Review decisions of outlet managers, the registry check and training managers.",
    ),
    TopicSpec(
        QUALIFICATIONS, 6, 30 * DAY_MS, "engineer_id",
        "Qualification applications, grants, validity changes and lapses.",
    ),
    TopicSpec(
        EXAMS, 6, 30 * DAY_MS, "engineer_id",
        "Exam scores collected from the exam platform.",
    ),
    TopicSpec(
        ORDERS, 6, 30 * DAY_MS, "order_id",
        "Service order lifecycle: created, offered, accepted, declined, at risk, completed.",
    ),
    TopicSpec(
        NOTIFICATIONS, 3, 7 * DAY_MS, "engineer_id",
        "Reminders to engineers and outlet managers.",
    ),
)

TOPIC_NAMES = tuple(spec.name for spec in TOPICS)


def all_topic_specs(prefix: str = "") -> list[TopicSpec]:
    """Return every topic and its dead-letter twin, named with ``prefix`` (used by tests to isolate)."""
    specs: list[TopicSpec] = []
    for spec in TOPICS:
        specs.append(TopicSpec(prefix + spec.name, spec.partitions, spec.retention_ms, spec.key, spec.description))
        specs.append(
            TopicSpec(
                prefix + spec.dead_letter, 1, 30 * DAY_MS, spec.key,
                f"Dead letters of {spec.name}.",
            )
        )
    return specs
