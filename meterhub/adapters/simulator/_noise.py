"""Deterministic, stateless noise: the same (seed, stream, index) always gives the same number.

The simulator must give the same value for the same meter and instant no matter in
which order instants are asked for, so it cannot draw from a stateful generator.
SplitMix64 (Steele, Lea and Flood, 2014) hashes the coordinates instead.
"""

from __future__ import annotations

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_TO_UNIT = 1.0 / (1 << 53)


def _splitmix64(x: int) -> int:
    z = (x + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK64
    return z ^ (z >> 31)


def noise(seed: int, stream: int, index: int) -> float:
    """Return a uniform number in [0, 1) for one coordinate.

    Args:
        seed: the meter's seed.
        stream: which quantity the number is for, so quantities are independent.
        index: the time slot (or phase, or trait number) within the stream.
    """
    z = _splitmix64((seed & _MASK64) ^ _splitmix64(stream & _MASK64))
    z = _splitmix64(z ^ (index & _MASK64))
    return (z >> 11) * _TO_UNIT


def between(seed: int, stream: int, index: int, low: float, high: float) -> float:
    """Return a uniform number in [low, high) for one coordinate."""
    return low + (high - low) * noise(seed, stream, index)
