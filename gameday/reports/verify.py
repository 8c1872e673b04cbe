"""`gameday verify`: the envelope, its signature, every subject digest and the timeline chain."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import chain_head, first_broken_link
from .formats import REPORT_HTML
from .html import render_html
from .render import (
    CHAIN_JSON,
    ENVELOPE,
    PUBLIC_KEY,
    REPORT_JSON,
    SCENARIO_COPY,
    artifacts,
    section_digests,
)
from .report import Report
from .signing import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    dumps_envelope,
    file_digest,
    keyid,
    load_public_key,
    verify_signature,
)


@dataclass
class Verification:
    """What verify found: problems (any one fails it) and notes on what was checked."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _json_problem(path: Path) -> str | None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return f"{path.name} is no longer valid UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:
        return f"{path.name} is no longer valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    return None


def _explain_report(run_dir: Path, signed: Mapping[str, Any]) -> str:
    """Which part of report.json differs from what was signed."""
    path = run_dir / REPORT_JSON
    broken = _json_problem(path)
    if broken:
        return broken
    data = json.loads(path.read_text(encoding="utf-8"))
    sections = signed.get("reportSections", {})
    now = section_digests(data)
    changed = sorted(k for k in set(sections) | set(now) if sections.get(k) != now.get(k))
    if not changed:
        return "report.json bytes changed (formatting only; every section's content is as signed)"
    text = "report.json changed in section" + ("s " if len(changed) > 1 else " ")
    text += ", ".join(repr(c) for c in changed)
    if "events" in changed:
        recorded = _chain_links(run_dir)
        where = first_broken_link(data.get("events", []), recorded) if recorded else None
        if where:
            text += f"; {where}"
    return text


def _chain_links(run_dir: Path) -> list[dict[str, Any]]:
    try:
        links = json.loads((run_dir / CHAIN_JSON).read_text(encoding="utf-8")).get("links", [])
        return [dict(x) for x in links]
    except (OSError, ValueError, AttributeError):
        return []


def _explain_html(run_dir: Path, key_id: str | None, head: str | None) -> str:
    """Locate the first changed line by rendering report.json again (rendering is deterministic)."""
    base = "report.html differs from the signed file"
    try:
        data = json.loads((run_dir / REPORT_JSON).read_text(encoding="utf-8"))
        expected = render_html(
            Report.from_json(data),
            key_fingerprint=key_id,
            artifacts=artifacts(run_dir),
            chain_head=head,
        ).splitlines()
        actual = (run_dir / REPORT_HTML).read_bytes().decode("utf-8", "replace").splitlines()
    except (OSError, ValueError, KeyError):
        return base
    for i, (a, b) in enumerate(zip(expected, actual, strict=False), 1):
        if a != b:
            return f"{base}: line {i} now reads {b.strip()[:80]!r}"
    if len(expected) != len(actual):
        return f"{base}: it has {len(actual)} lines, the rendering {len(expected)}"
    return base


def verify_run(run_dir: Path, key: Ed25519PublicKey | None = None) -> Verification:
    """Check a signed run directory; with no key, the directory's own signing.pub is used."""
    v = Verification()
    env_path = run_dir / ENVELOPE
    if not env_path.is_file():
        v.problems.append(f"{ENVELOPE} not found: the report is not signed (run with --sign KEY)")
        return v
    broken = _json_problem(env_path)
    if broken:
        v.problems.append(broken)
        return v
    raw = env_path.read_text(encoding="utf-8")
    envelope = json.loads(raw)
    if not isinstance(envelope, dict) or "payload" not in envelope:
        v.problems.append(f"{ENVELOPE} is not a DSSE envelope")
        return v
    if dumps_envelope(envelope) != raw:
        v.problems.append(f"{ENVELOPE} was modified: its bytes are not the form gameday wrote")
    if key is None:
        try:
            key = load_public_key(run_dir / PUBLIC_KEY)
        except ValueError as exc:
            v.problems.append(f"no key to verify with: {exc} (pass --key PUBLIC_KEY)")
            return v
        v.notes.append(
            f"checked with the key shipped in the report ({PUBLIC_KEY}); "
            "pass --key with the trusted public key to also prove who signed"
        )
    v.key_id = keyid(key)
    try:
        payload = verify_signature(envelope, key)
    except (ValueError, KeyError, TypeError) as exc:
        v.problems.append(f"signature: {exc}")
        return v
    v.notes.append(f"signature by {v.key_id} is valid")
    try:
        stmt = json.loads(payload)
    except ValueError:
        v.problems.append("the signed payload is not JSON")
        return v
    if stmt.get("_type") != STATEMENT_TYPE or stmt.get("predicateType") != PREDICATE_TYPE:
        v.problems.append("the signed payload is not a gameday drill-result in-toto Statement")
        return v
    pred: dict[str, Any] = stmt.get("predicate", {})
    head = pred.get("timeline", {}).get("head")
    for subject in stmt.get("subject", []):
        name, want = subject["name"], subject["digest"]["sha256"]
        path = run_dir / name
        if not path.is_file():
            if name == SCENARIO_COPY:
                v.notes.append(f"{name} is not in the directory; its digest is recorded only")
                continue
            v.problems.append(f"{name} is missing")
            continue
        if file_digest(path) == want:
            v.notes.append(f"{name} sha256 {want[:16]}… matches")
            continue
        if name == REPORT_JSON:
            v.problems.append(_explain_report(run_dir, pred))
        elif name == REPORT_HTML:
            v.problems.append(_explain_html(run_dir, v.key_id, head))
        elif name == SCENARIO_COPY:
            v.problems.append(
                f"{name} is not the scenario that ran (sha256 differs from {want[:16]}…)"
            )
        else:
            v.problems.append(f"{name} differs from the signed file (sha256 {want[:16]}…)")
    _check_chain(run_dir, pred, head, v)
    return v


def _check_chain(run_dir: Path, pred: Mapping[str, Any], head: str | None, v: Verification) -> None:
    try:
        data = json.loads((run_dir / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # already reported as a subject problem
    events = data.get("events", [])
    if chain_head(events) != head:
        where = first_broken_link(events, _chain_links(run_dir)) or "the event list"
        v.problems.append(f"timeline hash chain broken: {where} (signed head {str(head)[:16]}…)")
    else:
        v.notes.append(f"timeline hash chain of {len(events)} events ends at the signed head")
    scenario_sha = data.get("scenario", {}).get("sha256")
    if scenario_sha != pred.get("scenario", {}).get("sha256"):
        v.problems.append("report.json names a different scenario hash than the signed statement")
    if data.get("verdict") != pred.get("verdict"):
        v.problems.append(
            f"verdict in report.json is {data.get('verdict')!r}, signed {pred.get('verdict')!r}"
        )
