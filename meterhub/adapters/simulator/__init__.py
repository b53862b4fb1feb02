"""A meter simulator: believable load curves behind byte-exact meter telegrams.

Pure, synchronous and deterministic: ``SimulatedMeter(kind, number, key, seed=...,
start=...)`` produces what a Kaifa MA309M sends over M-Bus (AES-GCM ciphered DLMS
push, flat EVN or nested TINETZ layout) or a DSMR 5.0.2 P1 telegram, together with
the values it encoded. The building blocks (load model, A-XDR payloads, ciphering,
M-Bus framing, DSMR rendering) are exported for tests and benchmarks.
``SimulatedDevice`` produces the JSON payloads of an MQTT device (docs/mqtt-protocol.md).
"""

from meterhub.adapters.simulator._axdr_encode import cosem_datetime
from meterhub.adapters.simulator._devices import (
    DEVICE_KINDS,
    FAILING_SHA256,
    MISBEHAVIOUR_RATE,
    MISBEHAVIOURS,
    Outgoing,
    SimulatedDevice,
)
from meterhub.adapters.simulator._dsmr import (
    DsmrReadings,
    crc16_arc,
    dsmr_readings,
    dsmr_telegram,
    dsmr_values,
)
from meterhub.adapters.simulator._glo_cipher import gcm_ctr_encrypt, glo_cipher
from meterhub.adapters.simulator._identity import demo_key, logical_device_name, system_title_for
from meterhub.adapters.simulator._kaifa import (
    KAIFA_FLAT,
    KAIFA_NESTED,
    KAIFA_NESTED_SINGLE_PHASE,
    KaifaLayout,
    Register,
    data_notification,
    raw_registers,
    scaled_registers,
)
from meterhub.adapters.simulator._load import LoadModel, MeterState
from meterhub.adapters.simulator._mbus_frames import long_frame, mbus_frames
from meterhub.adapters.simulator._meter import MeterKind, SimulatedMeter
from meterhub.adapters.simulator._shapes import COMMERCIAL, HOUSEHOLD, LoadShape, MeterTraits, Peak

__all__ = [
    "COMMERCIAL",
    "DEVICE_KINDS",
    "FAILING_SHA256",
    "HOUSEHOLD",
    "KAIFA_FLAT",
    "KAIFA_NESTED",
    "KAIFA_NESTED_SINGLE_PHASE",
    "MISBEHAVIOURS",
    "MISBEHAVIOUR_RATE",
    "DsmrReadings",
    "KaifaLayout",
    "LoadModel",
    "LoadShape",
    "MeterKind",
    "MeterState",
    "MeterTraits",
    "Outgoing",
    "Peak",
    "Register",
    "SimulatedDevice",
    "SimulatedMeter",
    "cosem_datetime",
    "crc16_arc",
    "data_notification",
    "demo_key",
    "dsmr_readings",
    "dsmr_telegram",
    "dsmr_values",
    "gcm_ctr_encrypt",
    "glo_cipher",
    "logical_device_name",
    "long_frame",
    "mbus_frames",
    "raw_registers",
    "scaled_registers",
    "system_title_for",
]
