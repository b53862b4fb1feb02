"""The documentation pages render in a real headless Chromium with no internet access."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import anyio
import pytest

from meterhub.api import KeyStore, Role
from tests.api.conftest import served
from tests.conftest import require_binary

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from litestar import Litestar

# every name resolves to nothing, so any script from elsewhere would fail to load
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


async def dump_dom(chromium: str, url: str, profile: Path) -> str:
    with anyio.fail_after(90):
        result = await anyio.run_process([
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--disable-background-networking", f"--user-data-dir={profile}",
            OFFLINE, "--virtual-time-budget=5000", "--dump-dom", url,
        ])  # fmt: skip
    return result.stdout.decode()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_swagger_ui_renders_every_operation_offline(
    make_app: Callable[..., Litestar], keys: KeyStore, tmp_path: Path, page: str
) -> None:
    chromium = require_binary("chromium", "the documentation pages are tested in a browser")
    keys.create(Role.ADMIN)  # the pages and their files must need no key
    async with served(make_app()) as client:
        document = (await client.get("/schema/openapi.json")).json()
        html = (await client.get(page)).text
        dom = await dump_dom(chromium, f"{client.base_url}{page}", tmp_path / "profile")
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert scripts
    assert [s for s in scripts if re.match(r"(https?:)?//", s)] == []
    # Swagger UI built the page from the document: its title, and each operation
    assert 'class="swagger-ui' in dom
    assert "meterhub" in dom
    summaries = {op["summary"] for item in document["paths"].values()
                 for op in item.values() if isinstance(op, dict) and "summary" in op}  # fmt: skip
    assert "List devices" in summaries
    missing = sorted(s for s in summaries if s not in dom)
    assert missing == []
    for path in ("/api/v1/meters", "/api/v1/devices", "/api/v1/readings", "/health"):
        if path in document["paths"]:
            assert f'data-path="{path}"' in dom, path
    assert "Authorize" in dom  # the bearer scheme is offered
