"""Small helpers over the Docker SDK that the driver and its fault actions share.

Containers travel in plans as refs (``{"id": ..., "name": ...}``); a fault acts on each of
them and reports every failure at once; the SDK's errors are imported only when needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..base import TargetError

Ref = dict[str, str]  # a container: {"id": ..., "name": ...}


def refs_of(undo: Mapping[str, Any]) -> list[Ref]:
    """The containers a plan's ``undo`` names."""
    return list(undo.get("containers", []))


def names(refs: list[Ref]) -> tuple[str, ...]:
    """The containers' names (a plan's ``touches``)."""
    return tuple(r["name"] for r in refs)


def each(refs: list[Ref], fn: Callable[[str], Any]) -> dict[str, Any]:
    """``fn`` on every container's id, by name; every failure is reported, in one TargetError."""
    out: dict[str, Any] = {}
    errors = []
    for ref in refs:
        try:
            out[ref["name"]] = fn(ref["id"])
        except TargetError as exc:
            errors.append(f"{ref['name']}: {exc}")
        except Exception as exc:  # docker.errors.APIError and friends
            errors.append(f"{ref['name']}: {api_message(exc)}")
    if errors:
        raise TargetError("; ".join(errors))
    return out


def not_found() -> type[Exception]:
    """The SDK's error for a container or network that does not exist (imported lazily)."""
    import docker.errors

    err: type[Exception] = docker.errors.NotFound
    return err


def api_message(exc: Exception) -> str:
    """What the engine said (an APIError's explanation), else the exception's text."""
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)
