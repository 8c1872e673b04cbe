"""Read a YAML file into plain data plus the line and column of every key and value.

PyYAML's composer keeps marks on nodes; we build the Python objects ourselves from the
node tree so that duplicate keys, alias bombs and odd documents become `Problem`s instead
of silent overwrites or exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .problems import Problem, ScenarioError, field_path

MAX_FILE_BYTES = 1024 * 1024
# Anchors are handy for reuse; an alias that expands to millions of nodes is an attack.
MAX_NODES = 50_000

DataPath = tuple[str | int, ...]


@dataclass
class SourceDocument:
    """Parsed YAML data of one file and where each path in it was written."""

    file: str
    data: Any
    # path -> (line, column) of the value; for mapping keys also the key itself
    values: dict[DataPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DataPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: DataPath, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of `path`, or of its nearest ancestor that exists."""
        probe = tuple(path)
        while True:
            if key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.loader = yaml.SafeLoader("")
        self.doc = SourceDocument(file=file, data=None)
        self.problems: list[Problem] = []
        self.nodes = 0

    def _problem(self, mark: yaml.Mark | None, path: DataPath, message: str) -> None:
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        self.problems.append(Problem(self.file, line, col, field_path(path), message))

    def build(self, node: yaml.Node, path: DataPath) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ScenarioError(
                [
                    Problem(
                        self.file,
                        node.start_mark.line + 1,
                        node.start_mark.column + 1,
                        "",
                        f"document expands to more than {MAX_NODES} nodes "
                        "(anchors/aliases used too many times?); refusing to load it",
                    )
                ]
            )
        self.doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            explicit = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
            self.loader.flatten_mapping(node)
            result: dict[Any, Any] = {}
            from_merge: set[Any] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self._problem(
                        key_node.start_mark, path, "keys must be plain words, not lists or mappings"
                    )
                    continue
                key = self.loader.construct_object(key_node)
                if not isinstance(key, str):
                    key = str(key) if isinstance(key, int | float | bool) else key
                child: DataPath = (*path, key)
                if key in result and key in from_merge:
                    from_merge.discard(key)  # an explicit key overrides one merged in with <<
                elif key in result:
                    first = self.doc.keys.get(child, (0, 0))
                    self._problem(
                        key_node.start_mark,
                        child,
                        f"duplicate key '{key}' (first written at line {first[0]})",
                    )
                    continue
                if id(key_node) not in explicit:
                    from_merge.add(key)
                self.doc.keys[child] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node)


def _one_problem(file: str, message: str, line: int = 0, col: int = 0) -> ScenarioError:
    return ScenarioError([Problem(file, line, col, "", message)])


def read_text(path: Path) -> str:
    """Read a scenario file as UTF-8 text, refusing what is not a small text file."""
    file = str(path)
    try:
        if path.is_dir():
            raise _one_problem(file, "is a directory, expected a YAML file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _one_problem(
                file, f"file is {size} bytes; scenarios are limited to {MAX_FILE_BYTES}"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _one_problem(file, "no such file") from None
    except PermissionError:
        raise _one_problem(file, "permission denied") from None
    except OSError as exc:
        raise _one_problem(file, f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in raw:
        raise _one_problem(file, "binary file (contains NUL bytes), expected YAML text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _one_problem(file, "not UTF-8 text, expected a YAML file", line, 1) from None


def parse_yaml(text: str, file: str) -> SourceDocument:
    """Parse one YAML document with locations; any syntax or structure issue is a ScenarioError."""
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise _one_problem(
            file, "file is empty, expected a YAML mapping (apiVersion, kind, name, ...)"
        )
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        raise _one_problem(
            file,
            f"YAML syntax error: {what}",
            *((mark.line + 1, mark.column + 1) if mark else (0, 0)),
        ) from None
    except yaml.YAMLError as exc:
        raise _one_problem(file, f"YAML error: {exc}") from None
    except RecursionError:
        raise _one_problem(file, "YAML nesting is too deep") from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise _one_problem(
            file, "file is empty, expected a YAML mapping (apiVersion, kind, name, ...)"
        )
    if len(nodes) > 1:
        second = nodes[1].start_mark
        raise _one_problem(
            file,
            "more than one YAML document ('---'); put one scenario per file",
            second.line + 1,
            second.column + 1,
        )
    root = nodes[0]
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        raise _one_problem(
            file,
            f"expected a mapping at the top (apiVersion, kind, name, ...), found {kind}",
            root.start_mark.line + 1,
            root.start_mark.column + 1,
        )
    builder = _Builder(file)
    try:
        builder.doc.data = builder.build(root, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise _one_problem(
            file,
            f"YAML error: {exc.problem}",
            *((mark.line + 1, mark.column + 1) if mark else (0, 0)),
        ) from None
    except RecursionError:
        raise _one_problem(file, "YAML nesting is too deep") from None
    if builder.problems:
        raise ScenarioError(builder.problems)
    return builder.doc


def load_source(path: Path) -> SourceDocument:
    """Read and parse a scenario file; every failure is a ScenarioError with a location."""
    return parse_yaml(read_text(path), str(path))
