"""Arbitrary YAML-like input gives a clean error or a valid model, never an exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameday.scenarios.loader import load_document
from gameday.scenarios.model import Scenario, Suite
from gameday.scenarios.problems import ScenarioError
from tests.conftest import LIBRARY

KEYS = [
    "apiVersion",
    "kind",
    "name",
    "target",
    "type",
    "steady_state",
    "probes",
    "faults",
    "action",
    "service",
    "at",
    "duration",
    "objectives",
    "recovery_time",
    "traffic",
    "users",
    "url",
    "every",
    "stable_for",
    "scenarios",
    "manual_steps",
    "deadline",
    "between",
    "delay",
    "link",
    "<<",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.sampled_from(
        [
            "gameday/v1",
            "Scenario",
            "Suite",
            "sandbox",
            "crash",
            "http",
            "15m",
            "99%",
            "10x",
            "{{ target.url }}",
            "${env:X}",
            "",
            "db-primary",
        ]
    ),
    st.text(max_size=20),
)
DOCS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6
        ),
    ),
    max_leaves=30,
)


def _check(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        try:
            path.write_text(text, encoding="utf-8")
        except UnicodeEncodeError:
            return  # lone surrogates cannot be written as UTF-8 in the first place
        try:
            document = load_document(path)
        except ScenarioError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert problem.message and "\n" not in problem.message
                # every problem names the file, and a field's problem the line it is on
                assert problem.file == str(path)
                assert problem.line > 0 or not problem.field, problem
        else:
            assert isinstance(document, Scenario | Suite)
        # loading has no side effect: nothing but the scenario in its directory
        assert [p.name for p in Path(tmp).iterdir()] == ["fuzz.yaml"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_structured_documents(doc: Any) -> None:
    _check(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*":-[]{}&*!|>'\"#%@`, \n\tab1", "  ", "- ", ": "]), max_size=40).map(
        "".join
    )
)
def test_raw_text(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_library_scenarios(data: st.DataObject) -> None:
    base = yaml.safe_load((LIBRARY / "db-primary-crash.yaml").read_text(encoding="utf-8"))
    node: Any = base
    for _ in range(data.draw(st.integers(1, 3))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node, key=str)))
            if data.draw(st.booleans()):
                node[key] = data.draw(DOCS)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[data.draw(st.integers(0, len(node) - 1))]
        else:
            break
    _check(yaml.safe_dump(base, allow_unicode=True))
