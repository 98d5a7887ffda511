"""The ``bsnas`` command line: a parser and one module per group of commands."""

from __future__ import annotations

from bsnas.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
