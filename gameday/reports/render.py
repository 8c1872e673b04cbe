"""Write a run's files: report.json, its hash chain, every rendering in the format table and,
with a key, last of all the signature over every file in the run directory."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .chain import canonical_bytes, chain_document
from .formats import FORMATS, REPORT_HTML, RenderInput
from .report import Report
from .signing import (
    PREDICATE_TYPE,
    dumps_envelope,
    file_digest,
    keyid,
    load_private_key,
    public_pem,
    sign_envelope,
    statement,
    tree_files,
)

REPORT_JSON = "report.json"
CHAIN_JSON = "chain.json"
SCENARIO_COPY = "scenario.yaml"
ENVELOPE = "report.dsse.json"
PUBLIC_KEY = "signing.pub"
# files written here, or after the artifact list is taken, are never listed as evidence
_OWN = {*(f.file for f in FORMATS.values()), ENVELOPE, PUBLIC_KEY}
# the report's own files; a signature covers them and every other file in the run directory
_CORE = (REPORT_JSON, REPORT_HTML, SCENARIO_COPY, CHAIN_JSON)
SUBJECTS = (*_CORE, *(f.file for f in FORMATS.values() if f.file not in _CORE))
# the predicate's `coverage`: the subjects are every file in the run directory but the
# envelope; a statement without it (signed before) lists only the files in SUBJECTS
COVERAGE = "run-directory/v1"


def dumps_report(data: Mapping[str, Any]) -> str:
    """The byte form of report.json (`publish` writes the same): sorted keys, compact.

    Compact because an indent sends ``json`` to its pure-Python encoder: for a 24-hour drill
    (1 M samples) that is 7x slower and 1.8x larger. ``jq .`` shows it indented.
    """
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def read_report(run_dir: Path) -> tuple[dict[str, Any], Report]:
    """report.json of a run directory, as JSON and as a Report."""
    data = json.loads((run_dir / REPORT_JSON).read_text(encoding="utf-8"))
    return data, Report.from_json(data)


def artifacts(run_dir: Path) -> list[tuple[str, str, int]]:
    """(name, sha256, bytes) of every evidence file in the run directory."""
    out = []
    for path in sorted(run_dir.iterdir()):
        if path.is_file() and path.name not in _OWN:
            out.append((path.name, file_digest(path), path.stat().st_size))
    return out


def section_digests(data: Mapping[str, Any]) -> dict[str, str]:
    """sha256 of each top-level section of report.json: lets verify name what changed."""
    return {k: hashlib.sha256(canonical_bytes(v)).hexdigest() for k, v in sorted(data.items())}


def _copy_scenario(report: Report, run_dir: Path) -> None:
    # the exact scenario that ran, kept with the report, so it can be checked years later
    src = Path(report.scenario.path) if report.scenario.path else None
    dst = run_dir / SCENARIO_COPY
    if dst.exists() or src is None or not src.is_file():
        return
    if report.scenario.sha256 and file_digest(src) != report.scenario.sha256:
        return  # edited since the run: a copy now would not be what ran
    shutil.copyfile(src, dst)


def predicate(data: Mapping[str, Any], report: Report, chain: Mapping[str, Any]) -> dict[str, Any]:
    """The drill-result predicate: identity, verdict, objectives, chain head, section digests."""
    return {
        "runId": report.run_id,
        "scenario": {
            "name": report.scenario.name,
            "path": report.scenario.path,
            "sha256": report.scenario.sha256,
        },
        "target": report.target.type,
        "operator": report.operator,
        "started": report.started,
        "ended": report.ended,
        "verdict": report.verdict.value,
        "exitCode": report.exit_code,
        "reason": report.reason,
        "toolkitVersion": report.toolkit_version,
        "reportSchema": report.schema,
        "objectives": [
            {
                "name": r.name,
                "target": r.bound_text,
                "measured": r.measured,
                "error": r.error,
                "unit": r.unit,
                "passed": r.passed,
                "outcome": r.outcome,
            }
            for r in report.objectives
        ],
        "timeline": {
            "algorithm": chain["algorithm"],
            "events": len(chain["links"]),
            "head": chain["head"],
        },
        "reportSections": section_digests(data),
    }


def write_renderings(
    report: Report, run_dir: Path, *, formats: Iterable[str], sign_key: Path | None
) -> list[Path]:
    """Render from report.json on disk (the redacted truth): the chain, every format asked for
    (and those written always), and with a key, last, the signature over all of them.

    Raises SigningKeyError for an unusable key: check it before the drill with `check_sign_key`.
    """
    wanted = set(formats)
    unknown = wanted - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(sorted(unknown))}")
    key = load_private_key(sign_key) if sign_key is not None else None
    json_path = run_dir / REPORT_JSON
    if not json_path.exists():
        json_path.write_text(dumps_report(report.to_json()), encoding="utf-8")
    data, stored = read_report(run_dir)
    _copy_scenario(stored, run_dir)
    chain = chain_document(data.get("events", []))
    written = [run_dir / CHAIN_JSON]
    written[0].write_text(dumps_report(chain), encoding="utf-8")
    source = RenderInput(
        stored,
        key_fingerprint=keyid(key.public_key()) if key is not None else None,
        artifacts=artifacts(run_dir),
        chain_head=chain["head"],
    )
    for f in FORMATS.values():
        if f.always or f.name in wanted:
            (run_dir / f.file).write_text(f.render(source), encoding="utf-8")
            written.append(run_dir / f.file)
    if key is not None:
        written += _sign(run_dir, key, data, stored, chain)
    return written


def _sign(
    run_dir: Path,
    key: Ed25519PrivateKey,
    data: Mapping[str, Any],
    stored: Report,
    chain: Mapping[str, Any],
) -> list[Path]:
    """The public key, then the DSSE envelope over every file in the run directory (it included).

    Called once every other file of the run is final: the journal is closed by teardown,
    report.json and the renderings are written just before.
    """
    (run_dir / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
    names = [n for n in tree_files(run_dir) if n != ENVELOPE and (run_dir / n).is_file()]
    subjects = [(n, file_digest(run_dir / n)) for n in names]
    sizes = {n: (run_dir / n).stat().st_size for n in names}
    pred = {**predicate(data, stored, chain), "coverage": COVERAGE}
    if SCENARIO_COPY not in names and stored.scenario.sha256:
        subjects.append((SCENARIO_COPY, stored.scenario.sha256))  # recorded digest only
        pred["recordedOnly"] = [SCENARIO_COPY]
    payload = canonical_bytes(statement(subjects, pred, sizes))
    (run_dir / ENVELOPE).write_text(dumps_envelope(sign_envelope(payload, key)), "utf-8")
    return [run_dir / ENVELOPE, run_dir / PUBLIC_KEY]


def check_sign_key(path: Path) -> str:
    """Load a signing key up front (before a drill runs); returns its fingerprint."""
    return keyid(load_private_key(path).public_key())


__all__ = ["COVERAGE", "PREDICATE_TYPE", "SUBJECTS", "check_sign_key", "write_renderings"]
