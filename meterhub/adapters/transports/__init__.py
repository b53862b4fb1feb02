"""Byte sources for meters: serial ports and the in-process simulator."""

from meterhub.adapters.transports._base import Transport, TransportError
from meterhub.adapters.transports._serial import (
    MBUS_SERIAL,
    P1_SERIAL,
    SerialSettings,
    SerialTransport,
)
from meterhub.adapters.transports._simulated import SimulatedTransport, TelegramSource

__all__ = [
    "MBUS_SERIAL",
    "P1_SERIAL",
    "SerialSettings",
    "SerialTransport",
    "SimulatedTransport",
    "TelegramSource",
    "Transport",
    "TransportError",
]
