"""`gameday verify`: the envelope, its signer (trusted or not), every file's digest, files
nobody signed, and the timeline chain."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..runners.journal import JOURNAL_FILE
from .chain import chain_head, first_broken_link
from .formats import REPORT_HTML
from .html import render_html
from .render import (
    CHAIN_JSON,
    COVERAGE,
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
    tree_files,
    verify_signature,
)
from .trust import TrustList, load_trust_list


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
    if not isinstance(data, dict):
        return f"{REPORT_JSON} is no longer a JSON object"
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


def _read_envelope(run_dir: Path, v: Verification) -> dict[str, Any] | None:
    env_path = run_dir / ENVELOPE
    if not env_path.is_file():
        v.problems.append(f"{ENVELOPE} not found: the report is not signed (run with --sign KEY)")
        return None
    broken = _json_problem(env_path)
    if broken:
        v.problems.append(broken)
        return None
    raw = env_path.read_text(encoding="utf-8")
    envelope = json.loads(raw)
    if not isinstance(envelope, dict) or "payload" not in envelope:
        v.problems.append(f"{ENVELOPE} is not a DSSE envelope")
        return None
    if dumps_envelope(envelope) != raw:
        v.problems.append(f"{ENVELOPE} was modified: its bytes are not the form gameday wrote")
    return envelope


def _signer_key(
    run_dir: Path, envelope: Mapping[str, Any], trusted: TrustList, v: Verification
) -> tuple[Ed25519PublicKey | None, bool]:
    """A trusted key that signed the envelope, else the shipped signing.pub (and False: untrusted)."""
    sigs = envelope.get("signatures")
    ids = (
        [str(s.get("keyid")) for s in sigs if isinstance(s, dict)] if isinstance(sigs, list) else []
    )
    found = trusted.find(ids)
    if found is not None:
        v.notes.append(f"the signer {found[0]} is trusted ({found[2]})")
        return found[1], True
    try:
        shipped = load_public_key(run_dir / PUBLIC_KEY)
    except ValueError:
        shipped = None
    if shipped is not None and keyid(shipped) in ids:
        return shipped, False  # proves the files are as signed, not who signed them
    v.problems.append(
        f"the signer {', '.join(ids) or '(none named)'} is not trusted and its signature cannot "
        f"be checked: pass --key or add the key to {trusted.home}"
    )
    return None, False


def verify_run(
    run_dir: Path, key: Ed25519PublicKey | None = None, trusted: TrustList | None = None
) -> Verification:
    """Check a signed run directory against `key`, else against the trust list (read from the
    environment when not given); a valid signature by an untrusted signer is a problem."""
    v = Verification()
    envelope = _read_envelope(run_dir, v)
    if envelope is None:
        return v
    untrusted_home: Path | None = None  # where the key would go, when its signer is untrusted
    if key is None:
        trust = trusted if trusted is not None else load_trust_list()
        key, trusts = _signer_key(run_dir, envelope, trust, v)
        if key is None:
            return v
        untrusted_home = None if trusts else trust.home
    v.key_id = keyid(key)
    try:
        payload = verify_signature(envelope, key)
    except (ValueError, KeyError, TypeError) as exc:
        v.problems.append(f"signature: {exc}")
        return v
    if untrusted_home is None:
        v.notes.append(f"signature by {v.key_id} is valid")
    else:
        v.problems.append(
            f"signature is valid but the signer {v.key_id} is not trusted: "
            f"pass --key or add the key to {untrusted_home}"
        )
    try:
        stmt = json.loads(payload)
    except ValueError:
        v.problems.append("the signed payload is not JSON")
        return v
    subjects = _subjects(stmt)
    if subjects is None:
        v.problems.append("the signed payload is not a gameday drill-result in-toto Statement")
        return v
    pred: dict[str, Any] = stmt["predicate"]
    timeline = pred.get("timeline")
    head = timeline.get("head") if isinstance(timeline, dict) else None
    for subject in subjects:
        _check_subject(run_dir, subject, pred, head, v)
    _check_coverage(run_dir, {s.name for s in subjects}, pred, v)
    _check_chain(run_dir, pred, head, v)
    return v


class Subject(NamedTuple):
    """A signed file: its name in the run directory, sha256 and size (None: not recorded)."""

    name: str
    sha256: str
    size: int | None


def _subjects(stmt: Any) -> list[Subject] | None:
    """Each subject of a drill-result Statement; None if it is not one."""
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        return None
    pred = stmt.get("predicate")
    if stmt.get("predicateType") != PREDICATE_TYPE or not isinstance(pred, dict):
        return None
    # the fields read later have their types, even in a statement an untrusted key signed
    shapes = {"timeline": dict, "scenario": dict, "reportSections": dict, "recordedOnly": list}
    if any(not isinstance(pred.get(k, t()), t) for k, t in shapes.items()):
        return None
    out = []
    for subject in stmt.get("subject") or []:
        try:
            size = (subject.get("annotations") or {}).get("size")
            size = size if isinstance(size, int) and size >= 0 else None
            out.append(Subject(str(subject["name"]), str(subject["digest"]["sha256"]), size))
        except (KeyError, TypeError, AttributeError):
            return None
    return out


def _check_subject(
    run_dir: Path, subject: Subject, pred: Mapping[str, Any], head: str | None, v: Verification
) -> None:
    name, want = subject.name, subject.sha256
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or name in ("", ".", ENVELOPE):
        v.problems.append(f"the signed statement names {name!r}, which no run file can be")
        return
    path = run_dir / name
    recorded_only = name in pred.get("recordedOnly", ()) or pred.get("coverage") != COVERAGE
    if not path.is_file():
        if path.exists() or path.is_symlink():
            v.problems.append(f"{name} is no longer a regular file")
        elif name == SCENARIO_COPY and recorded_only:
            v.notes.append(f"{name} is not in the directory; its digest is recorded only")
        else:
            v.problems.append(f"{name} is missing")
        return
    try:
        digest = file_digest(path)
        appended = _appended(path, subject) if digest != want else None
    except OSError as exc:
        v.problems.append(f"{name} cannot be read: {exc.strerror or exc}")
        return
    if digest == want:
        v.notes.append(f"{name} sha256 {want[:16]}… matches")
    elif name == REPORT_JSON:
        v.problems.append(_explain_report(run_dir, pred))
    elif name == REPORT_HTML:
        v.problems.append(_explain_html(run_dir, v.key_id, head))
    elif name == SCENARIO_COPY:
        v.problems.append(f"{name} is not the scenario that ran (sha256 differs from {want[:16]}…)")
    elif appended is not None:
        v.problems.append(appended)
    else:
        v.problems.append(f"{name} differs from the signed file (sha256 {want[:16]}…)")


def _appended(path: Path, subject: Subject) -> str | None:
    """When the file is the signed one with bytes added (e.g. `gameday recover` appending to
    the journal of a drill that left a fault), say what was added; None for any other change."""
    size = subject.size
    if size is None or path.stat().st_size <= size:
        return None
    with path.open("rb") as fh:
        if hashlib.sha256(fh.read(size)).hexdigest() != subject.sha256:
            return None
        added = fh.read()
    text = f"{subject.name} has {len(added)} bytes appended after signing"
    if subject.name == JOURNAL_FILE:
        kinds = []
        for line in added.splitlines():
            with contextlib.suppress(ValueError, AttributeError):
                kinds.append(str(json.loads(line).get("kind")))
        text += f": {len(kinds)} records ({', '.join(kinds)})" if kinds else ""
    return f"{text}; the first {size} bytes are as signed"


def _check_coverage(
    run_dir: Path, listed: set[str], pred: Mapping[str, Any], v: Verification
) -> None:
    """A file the statement does not list is a problem: added after signing, or never signed."""
    try:
        present = [n for n in tree_files(run_dir) if n != ENVELOPE]
    except OSError as exc:
        v.problems.append(f"cannot list the run directory: {exc}")
        return
    extra = [n for n in present if n not in listed]
    if pred.get("coverage") == COVERAGE:
        for name in extra:
            v.problems.append(f"{name} is an unexpected file: not in the signed statement")
        if not extra:
            v.notes.append(f"every file in the directory is signed ({len(present)})")
        return
    extra = [n for n in extra if n != PUBLIC_KEY]  # never a subject in the older format
    if extra:
        v.problems.append(
            "signed in the older format, which covers only the report files: "
            f"{', '.join(extra)} unsigned"
        )


def _check_chain(run_dir: Path, pred: Mapping[str, Any], head: str | None, v: Verification) -> None:
    try:
        data = json.loads((run_dir / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # already reported as a subject problem
    if not isinstance(data, dict):
        return  # likewise
    events = data.get("events", [])
    if chain_head(events) != head:
        where = first_broken_link(events, _chain_links(run_dir)) or "the event list"
        v.problems.append(f"timeline hash chain broken: {where} (signed head {str(head)[:16]}…)")
    else:
        v.notes.append(f"timeline hash chain of {len(events)} events ends at the signed head")
    scenario = data.get("scenario")
    scenario_sha = scenario.get("sha256") if isinstance(scenario, dict) else None
    if scenario_sha != pred.get("scenario", {}).get("sha256"):
        v.problems.append("report.json names a different scenario hash than the signed statement")
    if data.get("verdict") != pred.get("verdict"):
        v.problems.append(
            f"verdict in report.json is {data.get('verdict')!r}, signed {pred.get('verdict')!r}"
        )
