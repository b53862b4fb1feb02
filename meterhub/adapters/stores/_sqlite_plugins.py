"""SQLite store methods for plugin state: a small key-value store per plugin."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from meterhub.adapters.stores._plugin_data import (
    check_state_key,
    check_state_plugin,
    check_state_value,
)
from meterhub.adapters.stores._sqlite_readings import transaction
from meterhub.adapters.stores._time import to_us

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

T = TypeVar("T")


def _get(con: sqlite3.Connection, plugin: str, key: str) -> bytes | None:
    row = con.execute(
        "SELECT value FROM plugin_state WHERE plugin = ? AND key = ?", (plugin, key)
    ).fetchone()
    return None if row is None else bytes(row[0])


def _put(con: sqlite3.Connection, plugin: str, key: str, value: bytes, now_us: int) -> None:
    with transaction(con):
        con.execute(
            "INSERT INTO plugin_state (plugin, key, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (plugin, key, value, now_us),
        )


def _delete(con: sqlite3.Connection, plugin: str, key: str) -> bool:
    with transaction(con):
        cur = con.execute("DELETE FROM plugin_state WHERE plugin = ? AND key = ?", (plugin, key))
        return cur.rowcount > 0


def _list(con: sqlite3.Connection, plugin: str) -> dict[str, bytes]:
    # BINARY collation: code point order, as PostgreSQL's COLLATE "C" on UTF-8
    cur = con.execute(
        "SELECT key, value FROM plugin_state WHERE plugin = ? ORDER BY key", (plugin,)
    )
    return {str(r[0]): bytes(r[1]) for r in cur}


class SqlitePluginMethods:
    """The plugin state of :class:`SqliteStore`, which provides :meth:`_run`."""

    async def _run(self, operation: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError  # SqliteStore runs ``fn`` on its worker thread

    async def get_plugin_state(self, plugin: str, key: str) -> bytes | None:
        """The value ``plugin`` keeps under ``key``, or None.

        Raises:
            StoreError: the key is too long, or the name or key holds a NUL.
            StoreUnavailableError: the file cannot be read.
        """
        check_state_key(plugin, key, backend="sqlite", operation="get_plugin_state")
        return await self._run("get_plugin_state", functools.partial(_get, plugin=plugin, key=key))

    async def put_plugin_state(self, plugin: str, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key`` for ``plugin``, replacing what was there.

        Raises:
            StoreError: the value is over 1 MiB, the key over 200 characters, or the
                name or key holds a NUL (nothing is written).
            StoreUnavailableError: the file cannot be written.
        """
        check_state_key(plugin, key, backend="sqlite", operation="put_plugin_state")
        check_state_value(plugin, key, value, backend="sqlite")
        now_us = to_us(datetime.now(UTC))
        fn = functools.partial(_put, plugin=plugin, key=key, value=value, now_us=now_us)
        await self._run("put_plugin_state", fn)

    async def delete_plugin_state(self, plugin: str, key: str) -> bool:
        """Forget the value ``plugin`` keeps under ``key``; False if there was none.

        Raises:
            StoreError: the key is too long, or the name or key holds a NUL.
            StoreUnavailableError: the file cannot be written.
        """
        check_state_key(plugin, key, backend="sqlite", operation="delete_plugin_state")
        return await self._run(
            "delete_plugin_state", functools.partial(_delete, plugin=plugin, key=key)
        )

    async def list_plugin_state(self, plugin: str) -> dict[str, bytes]:
        """Every value ``plugin`` keeps, by key, in key order (by code point).

        Raises:
            StoreError: the name holds a NUL.
            StoreUnavailableError: the file cannot be read.
        """
        check_state_plugin(plugin, backend="sqlite", operation="list_plugin_state")
        return await self._run("list_plugin_state", functools.partial(_list, plugin=plugin))
