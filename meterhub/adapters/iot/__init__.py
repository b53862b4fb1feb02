"""Sans-IO code of the MQTT device protocol (``docs/mqtt-protocol.md``).

Pure and synchronous: :func:`parse_payload` turns a device's payload into a typed
message or a :class:`PayloadError` with its dead-letter reason, :class:`DeviceProfile`
maps a reading's measurements to canonical metrics, and :class:`SequenceTracker` tells
duplicates, gaps, restarts and late readings apart. Nothing here does I/O but read
profile files.
"""

from meterhub.adapters.iot._messages import (
    DEAD_LETTER_REASONS,
    MAX_BATCH,
    MESSAGE_KINDS,
    Ack,
    Hello,
    Message,
    OtaStatus,
    PayloadError,
    Status,
    TelemetryItem,
    parse_payload,
)
from meterhub.adapters.iot._profiles import (
    DeviceProfile,
    DeviceProfileError,
    DeviceProfiles,
    Mapped,
    MetricDef,
    default_device_profiles,
    derived_name,
)
from meterhub.adapters.iot._sequence import (
    WINDOW,
    Duplicate,
    Fresh,
    Gap,
    Late,
    Restart,
    SequenceTracker,
    Verdict,
)
from meterhub.adapters.iot._units import known_unit

__all__ = [
    "DEAD_LETTER_REASONS",
    "MAX_BATCH",
    "MESSAGE_KINDS",
    "WINDOW",
    "Ack",
    "DeviceProfile",
    "DeviceProfileError",
    "DeviceProfiles",
    "Duplicate",
    "Fresh",
    "Gap",
    "Hello",
    "Late",
    "Mapped",
    "Message",
    "MetricDef",
    "OtaStatus",
    "PayloadError",
    "Restart",
    "SequenceTracker",
    "Status",
    "TelemetryItem",
    "Verdict",
    "default_device_profiles",
    "derived_name",
    "known_unit",
    "parse_payload",
]
