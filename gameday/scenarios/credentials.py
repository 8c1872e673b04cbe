"""Credentials written into a scenario, directly or through `{{ vars.* }}`: refused at load time.

Only `${env:NAME}` and `${file:PATH}` may carry a credential: anything else is copied in
clear into the run's record (the scenario copy, the journal, the report). A value is checked
as it will reach its use: `{{ vars.* }}` expanded, secret references not yet resolved. Each
character keeps where it came from, so a credential is blamed on the var that supplied it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .references import SECRET, VARIABLE, ReferenceProblem, strings

# a `{{ target.* }}` or `{{ drill.* }}` value comes from the driver, which declares its own
# secrets for redaction: it stands in as this opaque word, never blamed
_TRUSTED = "\0trusted"
_PLACEHOLDER = "T"

_CONNECTION_FIELDS = frozenset({"dsn", "verify_dsn", "url", "host"})
_COMMAND_FIELDS = frozenset({"run", "undo"})
_SCHEMES = r"(?:bearer|basic|token|digest|negotiate|apikey)"
# user:password@ in a URL; key=value in a libpq string, a query string or a command option
_URL_PASSWORD = re.compile(r"://[^/:@\s]+:(?P<secret>[^@/\s$]+)@")
_KEY_VALUE = re.compile(
    r"(?:password|passwd|pwd|token|secret|api[_-]?key)\s*=\s*(?P<secret>[^\s&;'\"$]+)", re.I
)
# a header line inside a command (curl -H 'Authorization: Bearer abc')
_HEADER_LINE = re.compile(
    r"\b(?:proxy-)?(?:authorization|cookie|x-api-key|x-auth-token)\s*:\s*"
    rf"(?:{_SCHEMES}\s+)?(?P<secret>(?!{_SCHEMES}\b)[^\s'\"$;]+)",
    re.I,
)
_SENSITIVE_HEADER = re.compile(
    r"authorization|cookie|api[-_]?key|token|secret|passw|credential|session|(?:^|[-_])auth(?:[-_]|$)",
    re.I,
)
# what may be written around a reference in a sensitive header: a scheme, a cookie's name
_HEADER_LABEL = re.compile(rf"^(?:{_SCHEMES}|[\w.-]+=)$", re.I)
_TOKEN = re.compile(r"[^\s;]+")


@dataclass(frozen=True)
class Credential:
    """A credential found in one value: what it is and the var that supplied it (None: inline)."""

    what: str
    var: str | None


def expand(text: str, user_vars: Mapping[str, str]) -> tuple[str, list[str]]:
    """`text` with `{{ vars.* }}` filled in and secret references removed, and each character's
    origin: "" written here, "vars.NAME", or trusted (a target or drill variable)."""
    out: list[str] = []
    origins: list[str] = []

    def literal(part: str, origin: str) -> None:
        # a secret reference carries nothing into the record: it is left out
        for piece in SECRET.split(part)[::2]:
            out.append(piece)
            origins.extend([origin] * len(piece))

    pos = 0
    for match in VARIABLE.finditer(text):
        literal(text[pos : match.start()], "")
        name = match.group(1)
        space, _, key = name.partition(".")
        if space == "vars" and key in user_vars:
            literal(str(user_vars[key]), name)
        else:
            out.append(_PLACEHOLDER)
            origins.append(_TRUSTED)
        pos = match.end()
    literal(text[pos:], "")
    return "".join(out), origins


def _sources(origins: list[str], start: int, end: int) -> set[str]:
    """Where a span's characters came from, target and drill variables left out."""
    return set(origins[start:end]) - {_TRUSTED}


def _spans(path: tuple[str | int, ...], text: str) -> Iterator[tuple[str, int, int]]:
    """(what, start, end) of every credential-looking span in an expanded value at `path`."""
    last = path[-1] if path else None
    parent = path[-2] if len(path) > 1 else None
    command = last in _COMMAND_FIELDS or (isinstance(last, int) and parent in _COMMAND_FIELDS)
    if last in _CONNECTION_FIELDS or command:
        patterns = [("password", _URL_PASSWORD), ("credential", _KEY_VALUE)]
        if command:
            patterns.append(("credential", _HEADER_LINE))
        for what, pattern in patterns:
            for match in pattern.finditer(text):
                yield what, match.start("secret"), match.end("secret")
    elif parent == "headers" and isinstance(last, str) and _SENSITIVE_HEADER.search(last):
        for token in _TOKEN.finditer(text):
            if not _HEADER_LABEL.match(token.group(0)):
                yield f"{last} header", token.start(), token.end()


def find_credentials(
    path: tuple[str | int, ...], text: str, user_vars: Mapping[str, str]
) -> list[Credential]:
    """Credentials that would reach the record in clear from the value `text` at `path`."""
    if not path or path[0] == "vars":
        return []  # a var is checked where it is used: a host or a user name is harmless
    expanded, origins = expand(text, user_vars)
    found: list[Credential] = []
    for what, start, end in _spans(path, expanded):
        sources = _sources(origins, start, end)
        if sources:  # else only a target's own value: its driver has it redacted
            named = sorted(s for s in sources if s)
            found.append(Credential(what, named[0] if named else None))
    return list(dict.fromkeys(found))


def credential_problems(data: Any, user_vars: Mapping[str, str]) -> list[ReferenceProblem]:
    """Every credential in the raw scenario data that does not come from a secret reference."""
    problems = []
    for path, text in strings(data):
        for found in find_credentials(path, text, user_vars):
            if found.var is None:
                message = (
                    "credentials written in the scenario; "
                    f"use ${{env:NAME}} or ${{file:PATH}} for the {found.what}"
                )
            else:
                message = (
                    f"credentials from {{{{ {found.var} }}}} reach this field, and vars are "
                    f"recorded in clear; set {found.var} to ${{env:NAME}} or ${{file:PATH}} "
                    f"for the {found.what}"
                )
            problems.append(ReferenceProblem(path, message, var=found.var))
    return problems
