"""Versioned SQL migrations shipped as package data, one folder per backend."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: ``NNNN_name.sql`` applied in one transaction."""

    version: int
    name: str
    sql: str


def load_migrations(backend: Literal["sqlite", "postgres"]) -> list[Migration]:
    """Every migration of ``backend`` in version order.

    Raises:
        ValueError: two files claim the same version (a packaging mistake).
    """
    folder = resources.files("meterhub.adapters.stores").joinpath("migrations", backend)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two {backend} migrations with version {version}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]
