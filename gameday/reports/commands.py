"""Command functions behind `gameday keygen|verify|report history|report render`: exit codes, no tracebacks."""

from __future__ import annotations

import sys
from pathlib import Path

from ..analysis.verdict import Verdict
from .formats import FORMATS
from .history import TRENDS, fmt, load_runs, render_index
from .render import ENVELOPE, REPORT_JSON, read_report, write_renderings
from .signing import SigningKeyError, generate_keypair, keyid, load_private_key, load_public_key
from .trust import TrustListError, default_trust_dir, load_trust_list
from .verify import verify_run


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return Verdict.INVALID.exit_code


def cmd_keygen(out: Path) -> int:
    """Write an Ed25519 key pair: OUT (private, 0600) and OUT.pub."""
    pub = out.with_name(out.name + ".pub")
    for path in (out, pub):
        if path.exists():
            return _error(f"{path} already exists; not overwriting a key")
    if not out.parent.is_dir():
        return _error(f"directory {out.parent} does not exist")
    try:
        generate_keypair(out)
    except OSError as exc:
        return _error(f"cannot write {out}: {exc.strerror or exc}")
    print(f"private key: {out} (keep it secret; sign with `gameday run … --sign {out}`)")
    print(f"public key:  {pub} (give it to auditors: `gameday verify RUN_DIR --key {pub}`,")
    print(f"             or copy it into {default_trust_dir()} to trust it without --key)")
    print(f"fingerprint: {keyid(load_private_key(out).public_key())}")
    return Verdict.PASSED.exit_code


def cmd_verify(report_dir: Path, key: Path | None) -> int:
    """0 when a trusted signer signed every file as it is and the chain holds; 1 naming each
    problem (a file changed, missing or unexpected, an untrusted signer); 2 bad input."""
    if not report_dir.is_dir():
        return _error(f"{report_dir} is not a directory")
    try:
        public = load_public_key(key) if key is not None else None
        trusted = load_trust_list() if key is None else None
    except (SigningKeyError, TrustListError) as exc:
        return _error(str(exc))
    result = verify_run(report_dir, public, trusted)
    for note in result.notes:
        print(f"  ok    {note}")
    for problem in result.problems:
        print(f"  FAIL  {problem}")
    if result.ok:
        print(f"verified: {report_dir} (key {result.key_id})")
        return Verdict.PASSED.exit_code
    print(f"NOT verified: {report_dir}: {len(result.problems)} problem(s)")
    return Verdict.FAILED.exit_code


def cmd_history(dir: Path, html_out: Path | None) -> int:
    """Per scenario, a table of runs (recovery, detection, data loss, verdict); HTML index on request."""
    if not dir.is_dir():
        return _error(f"{dir} is not a directory")
    runs, skipped = load_runs(dir)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not runs:
        return _error(f"no report.json found under {dir}")
    for name, points in runs.items():
        print(f"\n{name} ({len(points)} runs)")
        header = ["started (UTC)", "verdict", *(label for _, label, _ in TRENDS)]
        rows = [
            [p.started[:16].replace("T", " "), p.verdict]
            + [fmt(p.values.get(k, (None, None, ""))[0], u) for k, _, u in TRENDS]
            for p in points
        ]
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
        for row in (header, *rows):
            print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        passed = sum(p.verdict is Verdict.PASSED for p in points)
        print(f"  {passed}/{len(points)} passed")
    if html_out is not None:
        try:
            html_out.write_text(render_index(runs, html_out.resolve()), encoding="utf-8")
        except OSError as exc:
            return _error(f"cannot write {html_out}: {exc.strerror or exc}")
        print(f"\nhistory page: {html_out}")
    return Verdict.PASSED.exit_code


def cmd_render(report_dir: Path, formats: set[str]) -> int:
    """Render report.json again (e.g. after an upgrade); refuses to touch a signed report."""
    unknown = formats - set(FORMATS)
    if unknown:
        return _error(
            f"unknown format(s) {', '.join(sorted(unknown))}; choose from {', '.join(sorted(FORMATS))}"
        )
    if not (report_dir / REPORT_JSON).is_file():
        return _error(f"{report_dir} has no {REPORT_JSON}")
    if (report_dir / ENVELOPE).exists():
        return _error(f"{report_dir} is signed; re-rendering would invalidate {ENVELOPE}")
    try:
        _, report = read_report(report_dir)
    except (ValueError, KeyError, TypeError) as exc:
        return _error(f"{report_dir / REPORT_JSON} cannot be read: {exc}")
    for path in write_renderings(report, report_dir, formats=formats, sign_key=None):
        print(f"wrote {path}")
    return Verdict.PASSED.exit_code
