"""The dependencies handlers receive by name (provided in ``create_app``)."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency
from litestar.params import SkipValidation

from meterhub.api._metrics import HttpMetrics
from meterhub.api._view import SiteView

View: TypeAlias = NamedDependency[SkipValidation[SiteView]]
"""The running site, as ``view`` (a Protocol: Litestar cannot isinstance-check it)."""
Metrics: TypeAlias = NamedDependency[HttpMetrics]
"""The app's HTTP request metrics, as ``http_metrics``."""
