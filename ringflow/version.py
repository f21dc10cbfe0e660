"""Ringflow's version, as installed (``pyproject.toml``'s ``version``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version


def version() -> str:
    """The installed package's version; ``0`` when run from sources never installed."""
    try:
        return package_version("ringflow")
    except PackageNotFoundError:
        return "0"
