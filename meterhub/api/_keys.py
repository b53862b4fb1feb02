"""API keys: random tokens, stored only as SHA-256 digests, each with a role.

A key looks like ``mh_<id>_<secret>``: the id finds the record, the 32-byte secret is
never stored. The file (``<data_dir>/api_keys.json``) is rewritten atomically and
re-read when it changes, so ``meterhub keys create``/``revoke`` take effect on a running
site without a restart.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from meterhub.platform import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

_log = logging.getLogger(__name__)
KEYS_FILE = "api_keys.json"
_PREFIX = "mh"
_SECRET_BYTES = 32
# compared against when the id is unknown, so a miss costs the same as a wrong secret
_DUMMY_DIGEST = hashlib.sha256(b"meterhub: no such key").hexdigest()


class Role(enum.StrEnum):
    """What a key may do; each role includes the ones before it."""

    VIEWER = "viewer"
    """Read everything and watch the live feed."""
    OPERATOR = "operator"
    """Also acknowledge and resolve alerts, send commands."""
    ADMIN = "admin"
    """Also manage devices, device types, applications and keys."""

    @property
    def rank(self) -> int:
        """Order of the roles: viewer < operator < admin."""
        return _RANKS[self]

    def allows(self, needed: Role | str) -> bool:
        """Whether this role includes ``needed`` (a role or its name)."""
        return self.rank >= _RANKS[needed]


# keyed by name: a Role is its name (StrEnum), and a lookup by name spares building one
_RANKS: dict[str, int] = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """One key as stored: never the key itself, only its digest."""

    id: str
    name: str = ""
    role: Role
    created_at: datetime
    sha256: str


class _KeyFile(msgspec.Struct, kw_only=True):
    version: int = 1
    keys: list[ApiKey] = msgspec.field(default_factory=list)


_decoder = msgspec.json.Decoder(_KeyFile)


def digest(token: str) -> str:
    """SHA-256 of a key, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class KeyStore:
    """The site's API keys in one JSON file (created on the first ``create``).

    Args:
        path: the key file, usually ``<data_dir>/api_keys.json``.
    """

    def __init__(self, path: Path, recheck_s: float = 1.0) -> None:
        self.path = path
        # how often requests look at the file for changes made by another process (the
        # CLI): a stat() on every request cost more than the rest of the key check
        self.recheck_s = recheck_s
        self._keys: dict[str, ApiKey] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at: float | None = None

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> KeyStore:
        """The key store of a site's data folder."""
        return cls(Path(data_dir) / KEYS_FILE)

    # -- reading -------------------------------------------------------------------

    def _refresh(self) -> None:
        """Re-read the file when it changed; a broken file keeps the last good keys."""
        now = time.monotonic()
        if self._checked_at is not None and now - self._checked_at < self.recheck_s:
            return
        self._checked_at = now
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._keys, self._stamp = {}, None
            return
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._stamp:
            return
        try:
            self._keys = self._read()
        except ConfigError:
            _log.exception("keeping the previous API keys")
        self._stamp = stamp

    def _read(self) -> dict[str, ApiKey]:
        try:
            data = _decoder.decode(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(str(self.path), "", f"cannot read the key file: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise ConfigError(str(self.path), "", f"not a valid key file: {exc}") from exc
        return {key.id: key for key in data.keys}

    def keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        self._refresh()
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.id))

    def is_empty(self) -> bool:
        """Whether no key exists."""
        self._refresh()
        return not self._keys

    def authenticate(self, token: str) -> ApiKey | None:
        """The key record for ``token``, None if it is unknown, revoked or malformed."""
        self._refresh()
        parts = token.split("_", 2)
        key = self._keys.get(parts[1]) if len(parts) == 3 and parts[0] == _PREFIX else None  # noqa: PLR2004
        expected = key.sha256 if key is not None else _DUMMY_DIGEST
        same = hmac.compare_digest(digest(token), expected)
        return key if same and key is not None else None

    # -- changing ------------------------------------------------------------------

    def create(self, role: Role, name: str = "") -> tuple[ApiKey, str]:
        """Make a new key; the returned token is shown once and stored nowhere.

        Raises:
            ConfigError: the key file cannot be read or written.
        """
        key_id = secrets.token_hex(6)
        token = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        record = ApiKey(
            id=key_id, name=name, role=role, created_at=datetime.now(UTC), sha256=digest(token)
        )
        with self._locked():
            keys = self._read()
            keys[key_id] = record
            self._write(keys)
        return record, token

    def revoke(self, key_id: str) -> bool:
        """Delete a key; False if there is none with that id.

        Raises:
            ConfigError: the key file cannot be read or written.
        """
        with self._locked():
            keys = self._read()
            if keys.pop(key_id, None) is None:
                return False
            self._write(keys)
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise changes from several processes (two CLIs, a CLI and a site)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = self.path.with_name(self.path.name + ".lock").open("a")
        except OSError as exc:
            raise ConfigError(str(self.path), "", f"cannot write the key file: {exc}") from exc
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, keys: dict[str, ApiKey]) -> None:
        data = msgspec.json.format(msgspec.json.encode(_KeyFile(keys=list(keys.values()))))
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".api_keys.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data + b"\n")
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o600)  # noqa: PTH101 (on the path of an open descriptor)
                Path(tmp).replace(self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise ConfigError(str(self.path), "", f"cannot write the key file: {exc}") from exc
        self._stamp = self._checked_at = None  # this process sees its own change at once


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
