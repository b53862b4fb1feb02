"""The slice of asyncpg's (untyped) connection API the PostgreSQL store uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

Record = Sequence[Any]
"""An ``asyncpg.Record``: indexable by column position."""


class PgConnection(Protocol):
    """What the store calls on an ``asyncpg.Connection``."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def executemany(self, command: str, args: Sequence[Sequence[object]]) -> None: ...

    async def fetch(self, query: str, *args: object) -> list[Record]: ...

    async def fetchrow(self, query: str, *args: object) -> Record | None: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...  # noqa: ANN401

    async def copy_records_to_table(
        self, table_name: str, *, records: Sequence[tuple[object, ...]], columns: Sequence[str]
    ) -> str: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...
