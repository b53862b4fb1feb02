"""The Litestar app: routes, live feed, auth."""

from meterhub.api._view import SiteView

__all__ = ["SiteView"]
