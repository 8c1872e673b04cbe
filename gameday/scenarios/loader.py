"""Turn a YAML file into a `Scenario` or `Suite`, or into every problem a person must fix.

Pydantic reports errors against the data path; we translate each into
`file:line:col: field.path: what was expected, what was found` using the locations that
`source` recorded, and suggest the closest name for misspelt keys and unknown actions.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .credentials import credential_problems
from .model import FAULT_ACTIONS, Scenario, Suite
from .problems import Problem, ScenarioError, did_you_mean, field_path
from .references import ReferenceProblem, find_problems
from .source import DataPath, SourceDocument, load_source
from .target_types import LOCAL_FAULTS, target_kind

Document = Scenario | Suite
_KINDS: dict[str, type[BaseModel]] = {"Scenario": Scenario, "Suite": Suite}


def load_document(path: Path | str) -> Document:
    """Load and validate a scenario or suite file; raise ScenarioError listing every problem."""
    source = load_source(Path(path))
    return validate_source(source)


def load_scenario(path: Path | str) -> Scenario:
    """Load a file that must be a single scenario (not a suite)."""
    document = load_document(path)
    if not isinstance(document, Scenario):
        source = load_source(Path(path))
        line, col = source.locate(("kind",))
        raise ScenarioError(
            [Problem(str(path), line, col, "kind", "expected a Scenario here, found a Suite")]
        )
    return document


def load_suite_scenarios(suite: Suite, suite_path: Path) -> list[tuple[Path, Scenario]]:
    """Load every scenario a suite names, relative to the suite file; all problems at once."""
    problems: list[Problem] = []
    loaded: list[tuple[Path, Scenario]] = []
    source = load_source(suite_path)
    for i, entry in enumerate(suite.scenarios):
        path = (suite_path.parent / entry).resolve()
        try:
            loaded.append((path, in_suite(load_scenario(path), suite)))
        except ScenarioError as exc:
            if exc.problems and exc.problems[0].message == "no such file":
                line, col = source.locate(("scenarios", i))
                problems.append(
                    Problem(str(suite_path), line, col, f"scenarios[{i}]", f"no such file: {entry}")
                )
            else:
                problems.extend(exc.problems)
    if problems:
        raise ScenarioError(problems)
    return loaded


def in_suite(scenario: Scenario, suite: Suite) -> Scenario:
    """The scenario as its suite runs it: the suite's steps timed in it (and its night window
    when the scenario has none), its audit laid over."""
    update: dict[str, Any] = {}
    if suite.manual_steps:
        update["manual_steps"] = [*scenario.manual_steps, *suite.manual_steps]
    if suite.night is not None and scenario.night is None:
        update["night"] = suite.night
    if suite.audit.model_fields_set:
        # the suite is the drill an auditor reads: what it says wins, lists are joined
        audit = scenario.audit.model_dump()
        for name, value in suite.audit.model_dump().items():
            if name not in suite.audit.model_fields_set:
                continue
            if isinstance(value, list):
                audit[name] = [*audit[name], *(v for v in value if v not in audit[name])]
            else:
                audit[name] = value
        update["audit"] = type(suite.audit).model_validate(audit)
    return scenario.model_copy(update=update) if update else scenario


def validate_source(source: SourceDocument) -> Document:
    """Validate parsed data against the model selected by its `kind`."""
    data = source.data
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        line, col = source.locate(("kind",))
        if kind is None:
            message = "missing; expected 'Scenario' or 'Suite'"
        else:
            message = f"expected 'Scenario' or 'Suite', found {_found(kind)}" + did_you_mean(
                str(kind), list(_KINDS)
            )
        raise ScenarioError([Problem(source.file, line, col, "kind", message)])
    model = _KINDS[kind]
    problems: list[Problem] = []
    document: Any = None
    try:
        document = model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_translate(error, source, model) for error in exc.errors())
    target = data.get("target")
    if kind == "Scenario" and isinstance(target, dict) and isinstance(target.get("type"), str):
        problems.extend(_reference_problems(source, target["type"]))
        problems.extend(_unsupported_faults(source, target["type"]))
    if kind == "Scenario":
        problems.extend(_locustfile_problems(source))
    if problems:
        raise ScenarioError(list(dict.fromkeys(problems)))
    assert isinstance(document, Scenario | Suite)
    return document


def _reference_problems(source: SourceDocument, target_type: str) -> list[Problem]:
    """Unknown variables, bad secret references and credentials not held by a reference."""
    data = source.data
    raw_vars = data.get("vars")
    user_vars = {str(k): str(v) for k, v in raw_vars.items()} if isinstance(raw_vars, dict) else {}
    refs: list[ReferenceProblem] = find_problems(data, target_type, set(user_vars))
    refs += credential_problems(data, user_vars)
    problems = []
    for ref in refs:
        line, col = source.locate(ref.path)
        message = ref.message
        if ref.var is not None:
            # the problem is reported where the value is used; the fix is where the var is set
            var_line, _ = source.locate(tuple(ref.var.split(".", 1)))
            message += f" (this line uses it; {ref.var} is set at line {var_line})"
        problems.append(Problem(source.file, line, col, field_path(ref.path), message))
    return problems


def _locustfile_problems(source: SourceDocument) -> list[Problem]:
    """A locustfile is a Python file that exists (it is run): checked where the scenario says it."""
    traffic = source.data.get("traffic")
    name = traffic.get("locustfile") if isinstance(traffic, dict) else None
    if not isinstance(name, str) or not name:
        return []
    line, col = source.locate(("traffic", "locustfile"))
    path = Path(name) if Path(name).is_absolute() else Path(source.file).parent / name
    if not name.endswith(".py"):
        message = f"expected a Python file (.py), found {name!r}"
    elif not path.is_file():
        message = f"no such file: {path}"
    else:
        return []
    return [Problem(source.file, line, col, "traffic.locustfile", message)]


def _unsupported_faults(source: SourceDocument, target_type: str) -> list[Problem]:
    """A fault action the target's driver does not perform, named before anything runs."""
    kind = target_kind(target_type)
    faults = source.data.get("faults")
    if kind is None or not isinstance(faults, list):
        return []
    problems = []
    for i, fault in enumerate(faults):
        action = fault.get("action") if isinstance(fault, dict) else None
        if isinstance(action, str) and action in FAULT_ACTIONS and not kind.supports(action):
            line, col = source.locate(("faults", i, "action"))
            performs = ", ".join(sorted(kind.faults | LOCAL_FAULTS))
            problems.append(
                Problem(
                    source.file,
                    line,
                    col,
                    f"faults[{i}].action",
                    f"the {target_type} target cannot apply {action!r}; it performs: {performs}",
                )
            )
    return problems


# --------------------------------------------------------------------------- error translation


def _child(node: Any, part: int | str) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _data_path(loc: tuple[int | str, ...], data: Any) -> DataPath:
    """Drop the union tags pydantic adds to `loc`, keeping only keys that exist in the data."""
    path: list[str | int] = []
    node = data
    for part in loc:
        found, child = _child(node, part)
        if found:
            path.append(part)
            node = child
        elif isinstance(node, dict) and part in (node.get("type"), node.get("action")):
            continue  # the tag pydantic adds for a discriminated union
        elif isinstance(node, dict) and isinstance(part, str) and part != "" and part not in node:
            # a missing or unknown field: keep it for the message, stop descending
            path.append(part)
            node = None
    return tuple(path)


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Optional, list, dict, Annotated, unions)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, dict, tuple):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _model_at(
    root: type[BaseModel], loc: tuple[int | str, ...], data: Any
) -> type[BaseModel] | None:
    """Follow `loc` through the model's fields to the model that owns its last key."""
    candidates: list[Any] = [root]
    node = data
    for part in loc[:-1]:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        model = _pick_variant(candidates, node)
        if model is None:
            return None
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        if part in fields:
            candidates = _unwrap(fields[part].annotation)
            node = node.get(part) if isinstance(node, dict) else None
        # anything else is a union tag: the variant is chosen from the data itself
    return _pick_variant(candidates, node)


def _pick_variant(candidates: list[Any], node: Any) -> type[BaseModel] | None:
    for candidate in candidates:
        for key in ("type", "action"):
            field = candidate.model_fields.get(key)
            if field is None:
                continue
            value = node.get(key) if isinstance(node, dict) else None
            if value in typing.get_args(field.annotation):
                return typing.cast(type[BaseModel], candidate)
    return candidates[0] if len(candidates) == 1 else None


def _found(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    kind = {int: "a number", float: "a number", str: "text"}.get(type(value), type(value).__name__)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({kind})"


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _message(error: ErrorDetails, root: type[BaseModel], data: Any) -> str:
    kind = error["type"]
    loc = error["loc"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        model = _model_at(root, loc, data)
        allowed = [f.alias or n for n, f in model.model_fields.items()] if model else []
        hint = did_you_mean(str(loc[-1]), allowed)
        listing = f"; allowed here: {', '.join(allowed)}" if allowed and not hint else ""
        return f"unknown field '{loc[-1]}'{hint}{listing}"
    if kind == "union_tag_invalid":
        expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag"))
        field = ctx.get("discriminator", "").strip("'")
        hint = did_you_mean(tag, expected).removeprefix("; ")
        return f"unknown {field} '{tag}'; {hint + ' ' if hint else ''}expected one of: {', '.join(expected)}"
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "")).strip("'")
        return f"needs '{field}' to say which kind this is"
    if kind == "literal_error":
        wanted = str(ctx.get("expected", ""))
        choices = [
            c.strip().strip("'") for c in wanted.replace(" or ", ",").split(",") if c.strip()
        ]
        return f"expected {wanted}, found {_found(value)}" + did_you_mean(str(value), choices)
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "string_pattern_mismatch":
        return f"expected {_pattern_words(str(ctx.get('pattern', '')))}, found {_found(value)}"
    if kind in {"too_short", "too_long"}:
        return (
            error["msg"].replace("List", "list").replace("Value", "value")
            + f", found {_found(value)}"
        )
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return error["msg"].lower().replace("input", "value") + f", found {_found(value)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, found {_found(value)}"
    return f"{error['msg']}, found {_found(value)}"


def _pattern_words(pattern: str) -> str:
    if "a-z0-9-" in pattern:
        return "lower-case letters, digits and dashes (e.g. db-primary-crash)"
    if "->" in pattern:
        return "a link written 'src->dst', e.g. api-a->db-primary"
    if ":[0-5]" in pattern:
        return "a time of day written HH:MM, e.g. 22:00"
    if "<|<=" in pattern:
        return "a comparison such as '< 0.05' or '>= 1'"
    return f"text matching {pattern}"


def _translate(error: ErrorDetails, source: SourceDocument, root: type[BaseModel]) -> Problem:
    path = _data_path(error["loc"], source.data)
    discriminator = str((error.get("ctx") or {}).get("discriminator", "")).strip("'")
    if error["type"] == "union_tag_invalid" and discriminator:
        path = (*path, discriminator)
    key = error["type"] in {"extra_forbidden"}
    line, col = source.locate(path, key=key)
    return Problem(
        source.file, line, col, field_path(path) or "(top)", _message(error, root, source.data)
    )
