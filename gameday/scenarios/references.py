"""Variables (`{{ target.url }}`) and secret references (`${env:NAME}`, `${file:path}`) in strings.

Scenarios never hold secrets: they name where a secret comes from, and the runner reads it
just before use. `find_problems` checks references at load time (`credentials` refuses
credentials not written as a reference); `render` fills them in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .target_types import target_kind

VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
SECRET = re.compile(r"\$\{([^{}]*)\}")
_VARIABLE_NAME = re.compile(r"^(target|vars|drill)\.([A-Za-z_][A-Za-z0-9_]*)$")
_SECRET_REF = re.compile(r"^(env|file):(.+)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DRILL_VARIABLES = frozenset({"run_id", "name", "report_dir"})


@dataclass(frozen=True)
class ReferenceProblem:
    path: tuple[str | int, ...]
    message: str
    var: str | None = None  # the `vars.NAME` the problem came through, if any


def strings(
    data: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string in parsed YAML data, with its path."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from strings(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from strings(value, (*path, i))


def find_problems(data: Any, target_type: str, user_vars: set[str]) -> list[ReferenceProblem]:
    """Check every `{{ }}` and `${ }` in the raw scenario data; nothing is read or resolved."""
    problems: list[ReferenceProblem] = []
    kind = target_kind(target_type)
    target_names = kind.variables if kind is not None else frozenset()
    for path, text in strings(data):
        if text.count("{{") != text.count("}}"):
            problems.append(ReferenceProblem(path, f"unbalanced '{{{{' / '}}}}' in {text!r}"))
            continue
        for match in VARIABLE.finditer(text):
            name = match.group(1)
            parsed = _VARIABLE_NAME.match(name)
            if not parsed:
                problems.append(
                    ReferenceProblem(
                        path,
                        f"unknown variable '{{{{ {name} }}}}': expected target.NAME, vars.NAME or drill.NAME",
                    )
                )
                continue
            space, key = parsed.groups()
            known = {"target": target_names, "vars": user_vars, "drill": DRILL_VARIABLES}[space]
            if key not in known:
                choices = ", ".join(f"{space}.{k}" for k in sorted(known)) or "none defined"
                problems.append(
                    ReferenceProblem(
                        path, f"unknown variable '{space}.{key}'; available: {choices}"
                    )
                )
        for match in SECRET.finditer(text):
            ref = match.group(1)
            parsed_ref = _SECRET_REF.match(ref)
            if not parsed_ref:
                problems.append(
                    ReferenceProblem(
                        path,
                        f"bad secret reference '${{{ref}}}': expected ${{env:NAME}} or ${{file:PATH}}",
                    )
                )
            elif parsed_ref.group(1) == "env" and not _ENV_NAME.match(parsed_ref.group(2)):
                problems.append(
                    ReferenceProblem(path, f"bad environment variable name in '${{{ref}}}'")
                )
    return problems


class SecretError(Exception):
    """A secret reference that cannot be resolved (variable unset, file unreadable)."""


@dataclass
class Resolver:
    """Fills in variables and secrets, remembering secret values so reports can redact them."""

    variables: Mapping[str, str]
    base_dir: Path = Path(".")

    def __post_init__(self) -> None:
        self.secrets: set[str] = set()

    def _secret(self, ref: str) -> str:
        kind, _, name = ref.partition(":")
        if kind == "env":
            value = os.environ.get(name)
            if value is None:
                raise SecretError(f"environment variable {name} is not set")
        else:
            path = Path(name).expanduser()
            path = path if path.is_absolute() else self.base_dir / path
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretError(
                    f"cannot read secret file {path}: {exc.strerror or exc}"
                ) from None
        if value:
            self.secrets.add(value)
        return value

    def expand(self, text: str) -> str:
        """Replace only the `{{ x.y }}` variables in one string; secret references stay."""

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.variables:
                raise SecretError(f"variable {name} has no value for this target")
            return self.variables[name]

        return VARIABLE.sub(variable, text)

    def render(self, text: str) -> str:
        """Replace `{{ x.y }}` and `${kind:ref}` in one string."""
        return SECRET.sub(lambda m: self._secret(m.group(1)), self.expand(text))

    def anchored(self, text: str) -> str:
        """`text` with each relative `${file:PATH}` made absolute, to resolve it from anywhere."""

        def anchor(match: re.Match[str]) -> str:
            kind, _, name = match.group(1).partition(":")
            if kind != "file" or Path(name).expanduser().is_absolute():
                return match.group(0)
            return f"${{file:{(self.base_dir / name).resolve()}}}"

        return SECRET.sub(anchor, text)

    def redact(self, text: str) -> str:
        """Hide every secret value this resolver has handed out."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text
