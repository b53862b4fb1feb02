"""Connection handling of the PostgreSQL store: pool life cycle and error translation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio
import asyncpg

from meterhub.adapters.stores import _pg_readings as rd
from meterhub.adapters.stores._errors import StoreError, StoreUnavailableError
from meterhub.adapters.stores._rows import KnownSeries

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    from meterhub.adapters.stores._pg_types import PgConnection

T = TypeVar("T")

# Errors after which the same call may succeed later: the server is down, restarting,
# out of resources, or the connection broke.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
)
# InterfaceError subclasses that mean "this request cannot be sent as it is".
_BAD_REQUEST: tuple[type[BaseException], ...] = (
    asyncpg.exceptions._base.DataError,  # noqa: SLF001 - client-side encode error
    asyncpg.exceptions._base.ClientConfigurationError,  # noqa: SLF001
    asyncpg.exceptions._base.UnsupportedClientFeatureError,  # noqa: SLF001
)


def _translate(exc: Exception, operation: str) -> StoreError:
    plain_interface = isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, _BAD_REQUEST)
    if isinstance(exc, _UNAVAILABLE) or plain_interface:
        return StoreUnavailableError(
            f"{type(exc).__name__}: {exc}", backend="postgres", operation=operation
        )
    return StoreError(f"{type(exc).__name__}: {exc}", backend="postgres", operation=operation)


async def _init_connection(con: PgConnection) -> None:
    await con.execute(rd.STAGE_DDL)


class PgBase:
    """Pool life cycle shared by the PostgreSQL store's method groups.

    Args:
        dsn: a ``postgresql://`` URL.
        min_size: connections the pool keeps open.
        max_size: most connections the pool opens.
        bulk: how a batch reaches the server: ``copy`` (binary COPY into a temporary
            stage table) or ``unnest`` (arrays bound to one INSERT).
        partition_past_days: oldest day (before today) that gets its own partition.
        partition_future_days: newest day (after today) that gets its own partition.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        bulk: rd.BulkMethod = "copy",
        partition_past_days: int = 400,
        partition_future_days: int = 2,
    ) -> None:
        self.dsn = dsn
        self.bulk: rd.BulkMethod = bulk
        self._sizes = (min_size, max_size)
        self._partitions = rd.PartitionManager(partition_past_days, partition_future_days)
        self._series = KnownSeries()
        self._pool: Any = None
        self.backend = "postgres"

    async def __aenter__(self) -> Self:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._sizes[0],
                max_size=self._sizes[1],
                init=_init_connection,
                timeout=10,
            )
        except Exception as exc:
            raise _translate(exc, "open") from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await pool.close()
                except Exception:  # noqa: BLE001 - a dead server must not fail the exit
                    pool.terminate()

    async def _call(self, operation: str, fn: Callable[[Any], Awaitable[T]]) -> T:
        if self._pool is None:
            raise StoreError("the store is not open", backend="postgres", operation=operation)
        try:
            async with self._pool.acquire() as con:
                return await fn(con)
        except StoreError:
            raise
        except Exception as exc:
            raise _translate(exc, operation) from exc
