"""Error classes for everything a user can get wrong.

Each message states the rule, the value received and how to fix it. All
classes derive from :class:`ValueError`, so callers that only know the
standard library can still catch them.
"""

from __future__ import annotations

__all__ = ["ArchError", "BsnasError", "RecordError", "SearchError", "SpaceError", "UnknownNameError"]


class BsnasError(ValueError):
    """Base class of all bsnas errors meant for a person to read."""


class ArchError(BsnasError):
    """An architecture (dataclass or string) breaks a rule of the grammar."""


class RecordError(BsnasError):
    """A JSON architecture record is missing, unreadable or malformed."""


class UnknownNameError(BsnasError):
    """A name (conv type, activation, baseline, ...) is not one we know."""


def unknown_name(what: str, got: object, valid: list[str] | tuple[str, ...]) -> UnknownNameError:
    """Build the standard 'unknown X' error, listing the valid names."""
    return UnknownNameError(f"unknown {what} {got!r}; valid {what}s are: {', '.join(valid)}")


class SpaceError(BsnasError):
    """A search-space file is missing, unreadable or breaks a rule."""


class SearchError(BsnasError):
    """A search cannot start or continue as asked (budget, storage, changed configuration)."""


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency, or fail with the install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise BsnasError(f"{purpose} needs the optional package {module.split('.')[0]!r}; "
                         f"install it with: pip install 'bsnas[{extra}]'") from None
