"""PostgreSQL store methods for plugin state: a small key-value store per plugin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from meterhub.adapters.stores._pg_base import PgBase
from meterhub.adapters.stores._plugin_data import (
    check_state_key,
    check_state_plugin,
    check_state_value,
)

if TYPE_CHECKING:
    from meterhub.adapters.stores._pg_types import PgConnection


class PgPluginMethods(PgBase):
    """The plugin state on PostgreSQL."""

    async def get_plugin_state(self, plugin: str, key: str) -> bytes | None:
        """The value ``plugin`` keeps under ``key``, or None.

        Raises:
            StoreError: the key is too long, or the name or key holds a NUL.
            StoreUnavailableError: the server cannot be reached.
        """
        check_state_key(plugin, key, backend="postgres", operation="get_plugin_state")

        async def work(con: PgConnection) -> bytes | None:
            value = await con.fetchval(
                "SELECT value FROM plugin_state WHERE plugin = $1 AND key = $2", plugin, key
            )
            return None if value is None else bytes(value)

        return await self._call("get_plugin_state", work)

    async def put_plugin_state(self, plugin: str, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key`` for ``plugin``, replacing what was there.

        Raises:
            StoreError: the value is over 1 MiB, the key over 200 characters, or the
                name or key holds a NUL (nothing is written).
            StoreUnavailableError: the server cannot be reached.
        """
        check_state_key(plugin, key, backend="postgres", operation="put_plugin_state")
        check_state_value(plugin, key, value, backend="postgres")
        now = datetime.now(UTC)

        async def work(con: PgConnection) -> None:
            await con.execute(
                "INSERT INTO plugin_state (plugin, key, value, updated_at) "
                "VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                plugin,
                key,
                value,
                now,
            )

        await self._call("put_plugin_state", work)

    async def delete_plugin_state(self, plugin: str, key: str) -> bool:
        """Forget the value ``plugin`` keeps under ``key``; False if there was none.

        Raises:
            StoreError: the key is too long, or the name or key holds a NUL.
            StoreUnavailableError: the server cannot be reached.
        """
        check_state_key(plugin, key, backend="postgres", operation="delete_plugin_state")

        async def work(con: PgConnection) -> bool:
            status = await con.execute(
                "DELETE FROM plugin_state WHERE plugin = $1 AND key = $2", plugin, key
            )
            return status != "DELETE 0"

        return await self._call("delete_plugin_state", work)

    async def list_plugin_state(self, plugin: str) -> dict[str, bytes]:
        """Every value ``plugin`` keeps, by key, in key order (by code point).

        Raises:
            StoreError: the name holds a NUL.
            StoreUnavailableError: the server cannot be reached.
        """
        check_state_plugin(plugin, backend="postgres", operation="list_plugin_state")

        async def work(con: PgConnection) -> dict[str, bytes]:
            # COLLATE "C": code point order on UTF-8, as SQLite's BINARY collation
            rows = await con.fetch(
                'SELECT key, value FROM plugin_state WHERE plugin = $1 ORDER BY key COLLATE "C"',
                plugin,
            )
            return {r[0]: bytes(r[1]) for r in rows}

        return await self._call("list_plugin_state", work)
