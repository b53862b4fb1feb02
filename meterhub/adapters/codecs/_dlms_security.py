"""DLMS/COSEM security suite 0: general-glo-ciphering with AES-128-GCM.

Layout (IEC 62056-5-3 §9.4.4.2 general-glo-ciphering, Green Book §9.2.7.2):
``DB | len(system-title) | system-title | BER length | SC | FC(4) | ciphertext [| tag(12)]``.
IV = system-title ‖ frame counter; SC bit 0x20 = encrypted, 0x10 = authenticated.

The keystream is produced with a cached AES-ECB context over counter blocks
``IV ‖ 00000002 …`` (GCM's CTR part, NIST SP 800-38D §6.5), because building a new
CTR cipher object per telegram costs more than the decryption itself. Tags are
checked by re-running AES-GCM over the plaintext and comparing the truncated tag.
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meterhub.adapters.codecs._axdr import read_length
from meterhub.adapters.codecs._errors import DecodeError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import CipherContext

GENERAL_GLO_CIPHERING = 0xDB
_SC_COMPRESSED = 0x80
_SC_ENCRYPTED = 0x20
_SC_AUTHENTICATED = 0x10
_TAG_LEN = 12
_TITLE_LEN = 8
_KEY_LENGTHS = (16, 24, 32)
_MAX_BLOCKS = 4096
# Counter suffixes for blocks 2, 3, ...: GCM reserves counter 1 for the tag.
_COUNTERS = tuple((i + 2).to_bytes(4, "big") for i in range(_MAX_BLOCKS))


class SecuredApdu(NamedTuple):
    """The unwrapped content of a general-glo-ciphering APDU."""

    system_title: bytes
    security_control: int
    frame_counter: int
    plaintext: bytes
    encrypted: bool
    verified: bool


# one cipher per meter key, made once: building one costs more than decrypting a
# telegram, so the caches must hold every key of a large site
_KEYS_CACHED = 16384


@lru_cache(maxsize=_KEYS_CACHED)
def _ecb(key: bytes) -> CipherContext:
    # ECB has no state between blocks, so one context serves every telegram.
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305


@lru_cache(maxsize=_KEYS_CACHED)
def _gcm(key: bytes) -> AESGCM:
    return AESGCM(key)


def ctr_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Decrypt ``data`` as GCM's counter mode (no tag check) with a 12-byte ``iv``."""
    if not data:
        return b""
    blocks = (len(data) + 15) // 16
    if blocks > _MAX_BLOCKS:
        raise DecodeError("unsupported", f"ciphertext of {len(data)} bytes is too long")
    stream = _ecb(key).update(iv + iv.join(_COUNTERS[:blocks]))
    size = len(data)
    mixed = int.from_bytes(data, "big") ^ int.from_bytes(stream[:size], "big")
    return mixed.to_bytes(size, "big")


def _check_tag(
    key: bytes, iv: bytes, aad: bytes, plaintext: bytes, tag: bytes, *, encrypted: bool
) -> None:
    gcm = _gcm(key)
    # Authentication-only telegrams authenticate the plaintext as AAD (Green Book §9.2.7.2.4).
    full = (
        gcm.encrypt(iv, plaintext, aad)[-16:]
        if encrypted
        else gcm.encrypt(iv, b"", aad + plaintext)
    )
    if not hmac.compare_digest(full[: len(tag)], tag):
        raise DecodeError(
            "auth_tag",
            "GCM authentication tag does not verify: check the authentication key (AK) "
            "and the encryption key, or use EK-only mode if the operator's AK is wrong",
        )


def _split_header(apdu: bytes) -> tuple[bytes, bytes]:
    """Return ``(system_title, content)`` where content is SC ‖ FC ‖ data."""
    if len(apdu) < 2:  # noqa: PLR2004 - tag + title length
        raise DecodeError("truncated", "general-glo-ciphering APDU ends in its header")
    title_len = apdu[1]
    title_end = 2 + title_len
    if title_end >= len(apdu):
        raise DecodeError("truncated", "general-glo-ciphering APDU ends in its system title")
    length, start = read_length(apdu, title_end)
    content = apdu[start : start + length]
    if len(content) < length:
        raise DecodeError(
            "truncated",
            f"ciphered content is {len(content)} bytes, its length field says {length}",
        )
    if length < 5:  # noqa: PLR2004 - SC + frame counter
        raise DecodeError("malformed", "ciphered content shorter than SC + frame counter", start)
    return apdu[2:title_end], content


def unwrap(
    apdu: bytes, *, key: bytes | None, auth_key: bytes | None = None, ek_only: bool = False
) -> SecuredApdu:
    """Decrypt (and where possible authenticate) a general-glo-ciphering APDU.

    The tag is verified when the security control asks for it and an authentication
    key is given, unless ``ek_only`` is set; otherwise the caller must check the
    plaintext, because counter mode decrypts any key into *something*.

    Raises:
        DecodeError: ``truncated``, ``malformed``, ``unsupported``, ``no_key``,
            ``wrong_key`` (an unusable key) or ``auth_tag``.
    """
    title, content = _split_header(apdu)
    sc = content[0]
    counter = int.from_bytes(content[1:5], "big")
    data = content[5:]
    if sc & _SC_COMPRESSED:
        raise DecodeError("unsupported", f"compressed APDUs (SC 0x{sc:02X}) are not supported")
    encrypted = bool(sc & _SC_ENCRYPTED)
    authenticated = bool(sc & _SC_AUTHENTICATED)
    if not (encrypted or authenticated):
        return SecuredApdu(title, sc, counter, data, encrypted=False, verified=False)
    tag = b""
    if authenticated:
        if len(data) < _TAG_LEN:
            raise DecodeError("truncated", "ciphered content is shorter than its 12-byte tag")
        data, tag = data[:-_TAG_LEN], data[-_TAG_LEN:]
    verify = authenticated and auth_key is not None and not ek_only
    if key is None and (encrypted or verify):
        raise DecodeError(
            "no_key",
            f"telegram from system title {title.hex().upper()} is encrypted but no key is "
            "set for this meter: add its key (32 hex digits from the grid operator)",
        )
    if len(title) != _TITLE_LEN or (key is not None and len(key) not in _KEY_LENGTHS):
        raise DecodeError("wrong_key", "the key must be 16 bytes and the system title 8 bytes")
    iv = title + content[1:5]
    plaintext = ctr_decrypt(key, iv, data) if encrypted and key is not None else data
    if verify and key is not None and auth_key is not None:
        _check_tag(key, iv, bytes((sc,)) + auth_key, plaintext, tag, encrypted=encrypted)
    return SecuredApdu(title, sc, counter, plaintext, encrypted=encrypted, verified=verify)
