"""The Litestar app: routes, live feed, auth.

``create_app(view, settings.api, KeyStore.in_data_dir(settings.data_dir))`` builds the app
once (every route, so the OpenAPI document is complete); ``serve(app, host, port)`` runs
it under uvicorn inside the caller's task group.
"""

from meterhub.api._app import create_app
from meterhub.api._auth import Access, Principal
from meterhub.api._keys import KEYS_FILE, ApiKey, KeyStore, Role
from meterhub.api._problems import PROBLEM_JSON, ApiProblem, Problem
from meterhub.api._server import ApiServerError, serve
from meterhub.api._view import SiteView
from meterhub.settings import is_loopback

__all__ = [
    "KEYS_FILE",
    "PROBLEM_JSON",
    "Access",
    "ApiKey",
    "ApiProblem",
    "ApiServerError",
    "KeyStore",
    "Principal",
    "Problem",
    "Role",
    "SiteView",
    "create_app",
    "is_loopback",
    "serve",
]
