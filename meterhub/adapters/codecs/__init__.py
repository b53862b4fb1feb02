"""Sans-IO codecs for smart-meter telegrams: M-Bus, HDLC and DSMR P1 with DLMS/COSEM.

Everything here is pure and synchronous: framers take bytes and return complete
payloads or :class:`DecodeError` rejections, decoders turn payloads into
:class:`Telegram` values. Transports and actors wrap them; nothing here does I/O.
"""

from meterhub.adapters.codecs._cosem import cosem_datetime
from meterhub.adapters.codecs._decoder import (
    FormatOrAuto,
    Framer,
    MeterDecoder,
    iter_decode,
    make_framer,
)
from meterhub.adapters.codecs._detect import Format, detect_format, parse_capture_text
from meterhub.adapters.codecs._dlms import decode_apdu
from meterhub.adapters.codecs._draft import draft_profiles
from meterhub.adapters.codecs._dsmr import decode_dsmr
from meterhub.adapters.codecs._dsmr_framer import DsmrFramer
from meterhub.adapters.codecs._errors import DECODE_REASONS, DecodeError, DecodeReason
from meterhub.adapters.codecs._hdlc import HdlcFramer
from meterhub.adapters.codecs._mbus import MbusFramer
from meterhub.adapters.codecs._profiles import (
    FieldDef,
    Match,
    ObisDef,
    Profile,
    ProfileRegistry,
    default_registry,
)
from meterhub.adapters.codecs._telegram import CosemObject, Telegram, TelegramFormat

__all__ = [
    "DECODE_REASONS",
    "CosemObject",
    "DecodeError",
    "DecodeReason",
    "DsmrFramer",
    "FieldDef",
    "Format",
    "FormatOrAuto",
    "Framer",
    "HdlcFramer",
    "Match",
    "MbusFramer",
    "MeterDecoder",
    "ObisDef",
    "Profile",
    "ProfileRegistry",
    "Telegram",
    "TelegramFormat",
    "cosem_datetime",
    "decode_apdu",
    "decode_dsmr",
    "default_registry",
    "detect_format",
    "draft_profiles",
    "iter_decode",
    "make_framer",
    "parse_capture_text",
]
