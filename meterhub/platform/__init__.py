"""The runtime: actors, mailboxes, supervisors, the bus, configuration and telemetry.

Knows nothing of meters; everything above builds on this surface.
"""

from meterhub.platform._actor import (
    Actor,
    ActorContext,
    ActorRef,
    ActorSpec,
    BatchActor,
    RestartType,
)
from meterhub.platform._bus import Bus, Subscription, topic_matches
from meterhub.platform._config import Secret, load_config, to_display
from meterhub.platform._errors import (
    ActorNotFoundError,
    ConfigError,
    DuplicateActorError,
    EscalationError,
    MailboxClosedError,
    MeterhubError,
)
from meterhub.platform._logging import bind_actor, configure_logging
from meterhub.platform._mailbox import Mailbox, MailboxPolicy
from meterhub.platform._reply import Reply, ask
from meterhub.platform._retry import Backoff, RestartPolicy, retry
from meterhub.platform._status import ActorState, ActorStatus, Readiness
from meterhub.platform._supervisor import Strategy, SupervisorSpec
from meterhub.platform._system import ActorSystem
from meterhub.platform._telemetry import PROMETHEUS_CONTENT_TYPE, ActorMetrics, Telemetry
from meterhub.platform._topic import Topic

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "Actor",
    "ActorContext",
    "ActorMetrics",
    "ActorNotFoundError",
    "ActorRef",
    "ActorSpec",
    "ActorState",
    "ActorStatus",
    "ActorSystem",
    "Backoff",
    "BatchActor",
    "Bus",
    "ConfigError",
    "DuplicateActorError",
    "EscalationError",
    "Mailbox",
    "MailboxClosedError",
    "MailboxPolicy",
    "MeterhubError",
    "Readiness",
    "Reply",
    "RestartPolicy",
    "RestartType",
    "Secret",
    "Strategy",
    "Subscription",
    "SupervisorSpec",
    "Telemetry",
    "Topic",
    "ask",
    "bind_actor",
    "configure_logging",
    "load_config",
    "retry",
    "to_display",
    "topic_matches",
]
