"""meterhub: one process per site that reads every smart meter there and serves its data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("meterhub")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
