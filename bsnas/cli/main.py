"""The ``bsnas`` command line. Errors print one line and exit 1 (usage errors 2); ``--debug`` shows the traceback."""

from __future__ import annotations

import argparse
import os
import sys

from bsnas.cli.analysis_commands import add_analysis_commands
from bsnas.cli.latency_commands import add_latency_commands
from bsnas.cli.model_commands import add_model_commands
from bsnas.cli.search_command import add_search_command
from bsnas.cli.study_commands import add_study_commands
from bsnas.errors import BsnasError
from bsnas.version import __version__

__all__ = ["build_parser", "main"]


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit code 2) that point at ``--help``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="bsnas", description="Neural architecture search over blueprint separable convolutions (BSConv). "
        "Errors print one line and exit non-zero; --debug shows the traceback.")
    parser.add_argument("--version", action="version", version=f"bsnas {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_search_command(sub)
    add_study_commands(sub)
    add_model_commands(sub)
    add_analysis_commands(sub)
    add_latency_commands(sub)
    for command in sub.choices.values():  # --debug also works after the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    return parser


def _os_error(err: OSError) -> str:
    """An operating-system error in one line, with the file it concerns and what to check."""
    where = f" {err.filename!r}" if err.filename else ""
    what = err.strerror or str(err)
    return f"{what}:{where} (check the path, free space and permissions)" if where else what


def main(argv: list[str] | None = None) -> int:
    """Run the command line. Exit codes: 0 success, 1 a runtime error, 2 a usage error, 130 interrupted."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (already printed, one line)
        return int(done.code or 0)
    try:
        args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`bsnas baselines | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (BsnasError, OSError) as err:
        if args.debug:
            raise
        message = _os_error(err) if isinstance(err, OSError) and not isinstance(err, BsnasError) else str(err)
        print(f"bsnas: error: {message.splitlines()[0] if message else type(err).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bsnas: interrupted; run the same command again to resume a search", file=sys.stderr)
        return 130
    except Exception as err:  # a bug or a library failure: still one line unless --debug
        if args.debug:
            raise
        first = (str(err).splitlines() or [""])[0]
        print(f"bsnas: error: unexpected {type(err).__name__}: {first}; rerun with --debug for the traceback",
              file=sys.stderr)
        return 1
    return 0
