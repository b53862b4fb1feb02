"""Shared fixtures: what a test needs from the machine, and how a missing tool is reported."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(name: str, why: str) -> str:
    """Path of a system tool; skip with a reason on a laptop, fail under CI=true."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({why}); `bash scripts/test.sh` installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path
