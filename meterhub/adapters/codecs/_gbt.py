"""General Block Transfer reassembly (IEC 62056-5-3 §9.3.5, APDU tag 0xE0).

``E0 | block-control | block-number(2) | block-number-ack(2) | BER length | data``;
block-control bit 7 marks the last block. The data of all blocks, concatenated,
is the original APDU (an 0xDB general-glo-ciphering APDU on the Landis+Gyr E450).
"""

from __future__ import annotations

from meterhub.adapters.codecs._axdr import read_length
from meterhub.adapters.codecs._errors import DecodeError
from meterhub.adapters.codecs._scan import Items, Spans

GENERAL_BLOCK_TRANSFER = 0xE0
_LAST_BLOCK = 0x80
_HEADER = 6


class GbtAssembler:
    """Join General Block Transfer blocks; other APDUs pass straight through.

    Each APDU comes with the stream bytes of the frames that carried it, so a block
    that is rejected, or a transfer that never ends, reports those frames as ``data``.
    """

    def __init__(self) -> None:
        self._blocks: list[bytes] = []
        self._spans = Spans()
        self._next = 1

    def feed(self, apdu: bytes, frames: Spans) -> Items:
        """Add one APDU and the frames it came in; return the APDUs and errors it completes.

        Takes the runs out of ``frames``.
        """
        if not apdu or apdu[0] != GENERAL_BLOCK_TRANSFER:
            frames.clear()
            return [*self.flush(), apdu]
        if len(apdu) < _HEADER + 1:
            return [*self.flush(), *frames.rejected("truncated", "GBT block ends in its header")]
        try:
            size, start = read_length(apdu, _HEADER)
        except DecodeError as exc:
            return [*self.flush(), *frames.rejected(exc.reason, f"GBT block length: {exc.detail}")]
        data = apdu[start : start + size]
        if len(data) < size:
            detail = f"GBT block holds {len(data)} bytes, its length says {size}"
            return [*self.flush(), *frames.rejected("truncated", detail)]
        out: Items = []
        number = int.from_bytes(apdu[2:4], "big")
        if number == 1:
            out.extend(self.flush())
        elif number != self._next:
            out.extend(self.flush())
            detail = f"GBT block {number} arrived, expected {self._next}"
            out.extend(frames.rejected("truncated", detail))
            return out
        self._blocks.append(data)
        self._spans.absorb(frames)
        self._next = number + 1
        if apdu[1] & _LAST_BLOCK:
            out.append(b"".join(self._blocks))
            self._blocks = []
            self._spans.clear()
        return out

    def flush(self) -> list[DecodeError]:
        """Report an unfinished block sequence as truncated, with its frames' bytes."""
        self._next = 1  # a new transfer starts at block 1, whatever came before
        if not self._blocks:
            return []
        count = len(self._blocks)
        self._blocks = []
        detail = f"GBT transfer ended after {count} block(s) without the last"
        return self._spans.rejected("truncated", detail)
