"""Property-based run of schemathesis against the served OpenAPI document: no 5xx, ever.

The site runs in an event loop of its own (a blocking portal), because schemathesis
drives the served API with synchronous requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings

from meterhub.adapters.stores import SqliteStore
from meterhub.api import KeyStore, Role, create_app, serve
from meterhub.settings import ApiSettings
from tests.api.conftest import METERS, FakeSite, publish_live, seed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from schemathesis import Case


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The served API's URL and an admin key."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(SqliteStore(folder / "meterhub.db")) as store,
    ):
        portal.call(store.migrate)
        portal.call(seed, store)
        site = FakeSite(store, METERS)
        publish_live(site)
        keys = KeyStore.in_data_dir(folder)
        _, token = keys.create(Role.ADMIN)  # every operation is exercised as admin
        app = create_app(site, ApiSettings(rate_limit_per_minute=0), keys)
        future, port = portal.start_task(serve, app, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{port}", token
        finally:
            future.cancel()


@pytest.mark.timeout(600)
def test_no_operation_answers_with_a_server_error(served: tuple[str, str]) -> None:
    served_url, token = served
    api = schemathesis.openapi.from_url(f"{served_url}/schema/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    statuses: list[int] = []
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def never_5xx(case: Case[Any]) -> None:
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.as_curl_command(), response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == ["application/problem+json"]

        never_5xx()
    assert {200, 201, 204, 400, 404} <= set(statuses)  # it got past validation, too
