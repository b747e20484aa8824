"""gmmtheory's version: the installed distribution's (``importlib.metadata``), else the source tree's."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gmmtheory")
except PackageNotFoundError:  # pragma: no cover - a source checkout put on the path without being installed
    __version__ = "0.1.0"
