"""DLMS general-glo-ciphering as the Kaifa MA309M does it: AES-128-GCM, encryption only.

IEC 62056-5-3 §5.2.2 (general-glo-ciphering) and the Green Book security suite 0:
``DB 08 <system title> <length> <SC> <invocation counter> <ciphertext>``. With security
control 0x20/0x21 there is no authentication tag; GCM without the tag is AES-CTR with
the initial counter block IV || 00000002, IV = system title || invocation counter
(NIST SP 800-38D §7.1, 96-bit IV: J0 = IV || 1, encryption starts at inc32(J0)).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from meterhub.adapters.simulator._axdr_encode import length

GENERAL_GLO_CIPHERING = 0xDB
SC_ENCRYPTED_EVN = 0x20
"""Security control of Netz NÖ / EVN meters: encryption only, suite 0."""
SC_ENCRYPTED_SUITE1 = 0x21
"""Security control of TINETZ / VKW / Salzburg meters: encryption only, suite bits 1."""

_SYSTEM_TITLE_LEN = 8
_KEY_LEN = 16
_FIRST_COUNTER = b"\x00\x00\x00\x02"
_MAX_FRAME_COUNTER = 0xFFFFFFFF


def gcm_ctr_encrypt(key: bytes, system_title: bytes, frame_counter: int, plaintext: bytes) -> bytes:
    """Return the AES-128-GCM ciphertext of ``plaintext`` without a tag."""
    iv = system_title + frame_counter.to_bytes(4, "big")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv + _FIRST_COUNTER)).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def glo_cipher(
    plaintext: bytes,
    *,
    key: bytes,
    system_title: bytes,
    frame_counter: int,
    security_control: int,
) -> bytes:
    """Wrap a plaintext APDU in a general-glo-ciphering APDU (encryption only).

    Raises:
        ValueError: on a key that is not 16 bytes, a system title that is not 8 bytes,
            or a frame counter outside 0..2**32-1.
    """
    if len(key) != _KEY_LEN:
        raise ValueError(f"AES-128 key must be 16 bytes, got {len(key)}")
    if len(system_title) != _SYSTEM_TITLE_LEN:
        raise ValueError(f"system title must be 8 bytes, got {len(system_title)}")
    if not 0 <= frame_counter <= _MAX_FRAME_COUNTER:
        raise ValueError(f"frame counter {frame_counter} does not fit 32 bits")
    ciphertext = gcm_ctr_encrypt(key, system_title, frame_counter, plaintext)
    content = bytes((security_control,)) + frame_counter.to_bytes(4, "big") + ciphertext
    return (
        bytes((GENERAL_GLO_CIPHERING, _SYSTEM_TITLE_LEN))
        + system_title
        + length(len(content))
        + content
    )
