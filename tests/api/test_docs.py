"""The OpenAPI document and the offline documentation pages, through the served API."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from meterhub.api import KeyStore, Role
from meterhub.api._docs import SWAGGER_UI_VERSION
from tests.api.conftest import served

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from litestar import Litestar

PROBLEM = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
ASSETS = Path(__file__).parents[2] / "meterhub" / "api" / "static" / "swagger-ui"
METHODS = ("get", "put", "post", "delete", "patch")
# what Litestar's example factory makes of a str field
RANDOM_WORD = re.compile(r"[A-Za-z]{20}")
PAGES = ["/schema", "/schema/swagger"]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "nope", path)


def values(node: object, key: str = "") -> Iterator[tuple[str, object]]:
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from values(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from values(v, key)
    else:
        yield key, node


@pytest.fixture
def admin(keys: KeyStore) -> dict[str, str]:
    """The headers of an admin key; with it, nothing is open unless the route is public."""
    return {"Authorization": f"Bearer {keys.create(Role.ADMIN)[1]}"}


@pytest.fixture
def closed_app(make_app: Callable[..., Litestar], admin: dict[str, str]) -> Litestar:
    assert admin
    return make_app()


async def fetch_document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def test_every_operation_documents_its_problems_and_security(closed_app: Litestar) -> None:
    async with served(closed_app) as client:
        document = await fetch_document(client)
        checked = 0
        for method, path, operation in operations(document):
            # whether it is public is what the running API says, not what the document says
            answer = await client.request(method, concrete(path))
            public = answer.status_code != 401
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            for status, response in responses.items():
                if int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM], where
                    assert response["content"][PROBLEM]["schema"] == {"$ref": PROBLEM_REF}, where
                    assert response["description"], where
            needed = {"500"}
            if public:
                assert operation.get("security") in (None, []), where
                assert "401" not in responses, where
            else:
                assert operation["security"] == [{"apiKey": []}], where
                needed |= {"401", "403", "429"}
            if "requestBody" in operation:
                needed |= {"400", "413", "415"}
            if any(p["in"] == "path" for p in operation.get("parameters", [])):
                needed |= {"400", "404"}
            if operation.get("parameters"):
                needed.add("400")
            assert needed <= set(responses), (where, sorted(needed - set(responses)))
            checked += 1
    assert checked >= 20
    public_paths = {p for m, p, o in operations(document) if o.get("security") in (None, [])}
    assert public_paths == {"/health", "/ready"}
    assert "security" not in document  # set per operation, so public ones need no override
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["properties"])
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


async def test_the_document_has_no_generated_examples(closed_app: Litestar) -> None:
    async with served(closed_app) as client:
        document = await fetch_document(client)
    keys = [key for key, _ in values(document)]
    assert "examples" not in keys
    assert "example" not in keys
    randoms = [value for _, value in values(document)
               if isinstance(value, str) and RANDOM_WORD.fullmatch(value)]  # fmt: skip
    assert randoms == []
    for name in ("Problem", "DeviceMeta", "Latest", "InvalidParam", "MeterStatus"):
        assert "examples" not in str(document["components"]["schemas"][name]), name


async def test_every_body_refuses_what_is_not_json_with_415(
    closed_app: Litestar, admin: dict[str, str]
) -> None:
    async with served(closed_app) as client:
        document = await fetch_document(client)
        with_body = [(m, p) for m, p, o in operations(document) if "requestBody" in o]
        assert len(with_body) >= 4
        body = b'{"id": "m9", "device_type": "kaifa"}'
        for method, path in with_body:
            for sent in ("text/plain", "application/x-www-form-urlencoded", None):
                headers = admin | ({"content-type": sent} if sent else {})
                answer = await client.request(method, concrete(path), content=body,
                                              headers=headers)  # fmt: skip
                assert answer.status_code == 415, (method, path, sent, answer.text)
                assert answer.headers["content-type"] == PROBLEM
                problem = answer.json()
                assert problem["type"] == "urn:meterhub:problem:unsupported-media-type"
                expected = f"not {sent!r}" if sent else "none was sent"
                assert problem["detail"] == ("request bodies must be sent as 'Content-Type: "
                                             f"application/json'; {expected}")  # fmt: skip
                assert problem["invalid_params"][0]["name"] == "Content-Type"
            # a JSON body gets past the check, to the handler
            json_type = {"content-type": "application/json; charset=utf-8"}
            answer = await client.request(method, concrete(path), content=body,
                                          headers=admin | json_type)  # fmt: skip
            assert answer.status_code in (200, 201, 400, 404), (method, path, answer.text)


async def test_every_body_over_the_limit_is_413(make_app: Callable[..., Litestar]) -> None:
    async with served(make_app(max_body_bytes=64, auth="open-on-loopback")) as client:
        document = await fetch_document(client)
        with_body = [(m, p) for m, p, o in operations(document) if "requestBody" in o]
        big = b'{"id": "' + b"x" * 200 + b'"}'
        for method, path in with_body:
            answer = await client.request(method, concrete(path), content=big,
                                          headers={"content-type": "application/json"})  # fmt: skip
            assert answer.status_code == 413, (method, path, answer.text)
            assert answer.headers["content-type"] == PROBLEM


async def test_the_pages_need_no_key_and_load_only_shipped_files(closed_app: Litestar) -> None:
    async with served(closed_app) as client:
        for page in PAGES:
            answer = await client.get(page)
            assert answer.status_code == 200, page
            assert answer.headers["content-type"].startswith("text/html")
            html = answer.text
            assert "http://" not in html
            assert "https://" not in html
            assert '"/schema/openapi.json"' in html
            assert "validatorUrl: null" in html
            links = re.findall(r'(?:src|href)="([^"]+)"', html)
            assets = {link for link in links if not link.startswith("data:")}
            assert assets == {
                f"/schema/static/swagger-ui/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
                f"/schema/static/swagger-ui/swagger-ui.css?v={SWAGGER_UI_VERSION}",
            }
            for link in assets:
                asset = await client.get(link)
                assert asset.status_code == 200, link
                name = link.split("/")[-1].split("?")[0]
                assert asset.content == (ASSETS / name).read_bytes()
                assert "max-age" in asset.headers["cache-control"]


@pytest.mark.parametrize("path", [
    "/schema/scalar", "/schema/redoc", "/schema/static/swagger-ui/nope.js",
    "/schema/static/swagger-ui/%2e%2e/%2e%2e/_app.py",
])  # fmt: skip
async def test_unknown_documentation_pages_are_404_problems(
    closed_app: Litestar, path: str
) -> None:
    async with served(closed_app) as client:
        answer = await client.get(path)
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert "class ServeInfo" not in answer.text


def test_the_vendored_files_are_the_pinned_release() -> None:
    readme = (ASSETS / "README.md").read_text()
    assert f"swagger-ui-dist` **{SWAGGER_UI_VERSION}**" in readme
    bundle = (ASSETS / "swagger-ui-bundle.js").read_bytes()
    assert f'PACKAGE_VERSION:"{SWAGGER_UI_VERSION}"'.encode() in bundle
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((ASSETS / name).read_bytes()).hexdigest()
        assert f"| `{name}` | `{digest}` |" in readme, name
    assert "Apache License" in (ASSETS / "LICENSE").read_text()
    assert (ASSETS / "NOTICE").is_file()
    assert (ASSETS / "swagger-ui-bundle.js.LICENSE.txt").is_file()
