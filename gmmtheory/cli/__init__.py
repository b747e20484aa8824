"""Command-line interface: ``gmmtheory SUBCOMMAND ...`` (also ``python -m gmmtheory``); ``main`` is the entry point.

``cli/main.py`` builds the parser and runs it, ``cli/options.py`` holds the options and output every subcommand
shares (ranges, comma lists, mixture options, the JSON/CSV/table envelope), and ``cli/<topic>.py`` one subcommand
family each (``add_parser(sub)``): curves (entropy, rate, landmarks, logtime), phase, guidance, control, bridge,
report.
"""

from __future__ import annotations

from gmmtheory.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
