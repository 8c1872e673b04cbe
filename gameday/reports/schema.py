"""The JSON Schema (draft 2020-12) of report.json: what `Report.to_json` writes, for other tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..analysis.objectives.result import OUTCOMES
from ..analysis.timeline_json import WINDOW_FIELDS
from ..analysis.verdict import DRILL_VERDICTS
from .report import SCHEMA_VERSION


def report_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of `Report.to_json()`."""
    num = {"type": "number"}
    opt_num = {"type": ["number", "null"]}
    obj = {"type": "object"}
    str_ = {"type": "string"}
    ints = {"type": "array", "items": {"type": "integer"}}
    opt_str = {"type": ["string", "null"]}

    def rec(props: dict[str, Any], required: Sequence[str] | None = None) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": props,
            "required": list(props if required is None else required),
        }

    sample = rec(
        {
            "t": num,
            "ok": {"type": "boolean"},
            "latency": opt_num,
            "value": {"type": ["number", "string", "null"]},
            "detail": str_,
            "late": num,
            "hops": obj,
            "served_by": opt_str,
            "hop_desc": obj,
            "ended": opt_num,
        },
        ["t", "ok"],
    )
    hop_stats = {
        "anyOf": [
            {"type": "null"},
            rec({"n": {"type": "integer"}, "p50": num, "p99": num, "max": num}),
        ]
    }
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gameday.dev/schemas/report-v1.json",
        "title": "gameday drill report",
        **rec(
            {
                "schema": {"const": SCHEMA_VERSION},
                "run_id": str_,
                "scenario": rec(
                    {
                        "name": str_,
                        "description": str_,
                        "path": opt_str,
                        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
                        "labels": obj,
                        "audit": obj,
                        "objectives": obj,
                        "steady_state": rec({"stable_for": num, "min_traffic_success": opt_num}),
                        "faults": {"type": "array", "items": obj},
                    }
                ),
                "target": rec({"type": str_, "spec": obj}),
                "toolkit_version": str_,
                "monotonic_start": opt_num,
                "operator": str_,
                "started": {**str_, "format": "date-time"},
                "ended": {**str_, "format": "date-time"},
                "duration_s": num,
                "verdict": {"enum": [v.value for v in DRILL_VERDICTS]},
                "exit_code": {"enum": [v.exit_code for v in DRILL_VERDICTS]},
                "reason": str_,
                "objectives": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "bound": str_,
                            "measured": opt_num,
                            "error": opt_num,
                            "unit": {"enum": ["s", "ratio", "count"]},
                            "passed": {"type": "boolean"},
                            "outcome": {"enum": list(OUTCOMES)},
                            "reason": str_,
                            "detail": obj,
                        },
                        # reports from before "not judged" existed carry no outcome
                        [
                            "name",
                            "bound",
                            "measured",
                            "error",
                            "unit",
                            "passed",
                            "reason",
                            "detail",
                        ],
                    ),
                },
                "milestones": {
                    "type": "array",
                    "items": rec({"name": str_, "t": num, "bound": num, "detail": obj}),
                },
                "faults": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "action": str_,
                            "spec": obj,
                            "plan": {"type": ["object", "null"]},
                            "injected_t": opt_num,
                            "reverted_t": opt_num,
                            "apply_s": opt_num,
                            "revert_s": opt_num,
                            "confirmation": obj,
                            "revert_confirmation": obj,
                            "error": opt_str,
                        }
                    ),
                },
                "manual_steps": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "deadline_s": num,
                            "description": str_,
                            "owner": opt_str,
                            "optional": {"type": "boolean"},
                            "done_t": opt_num,
                            "by": opt_str,
                            "met": {"type": ["boolean", "null"]},
                            "deadline_tier": {"enum": ["day", "night", None]},
                            "deadline_why": str_,
                        },
                        # reports written before {day, night} deadlines have neither
                        required=[
                            "name",
                            "deadline_s",
                            "description",
                            "owner",
                            "optional",
                            "done_t",
                            "by",
                            "met",
                        ],
                    ),
                },
                "events": {
                    "type": "array",
                    "items": rec(
                        {
                            "t": num,
                            "wall": {**str_, "format": "date-time"},
                            "kind": str_,
                            "name": str_,
                            "detail": obj,
                        }
                    ),
                },
                "probes": {
                    "type": "array",
                    "items": rec(
                        {
                            "name": str_,
                            "type": str_,
                            "every": num,
                            "role": {"enum": ["steady", "evidence"]},
                            "samples": {"type": "array", "items": sample},
                        }
                    ),
                },
                "traffic": {
                    "type": "array",
                    "items": rec(
                        {
                            "t_mono": num,
                            "window": num,
                            "name": str_,
                            "count": {"type": "integer"},
                            "ok": {"type": "integer"},
                            "shed": {"type": "integer"},
                            "circuit": {"type": "integer"},
                            "error_5xx": {"type": "integer"},
                            "error_other": {"type": "integer"},
                            "p50_ms": opt_num,
                            "p95_ms": opt_num,
                            "p99_ms": opt_num,
                            "max_ms": opt_num,
                            "served_by": obj,
                            "users": {"type": "integer"},
                            "late": {"type": "integer"},
                            "hist": {"type": "object", "additionalProperties": {"type": "integer"}},
                            "slices": rec(
                                {
                                    "ok": ints,
                                    "failed": ints,
                                    "only": str_,
                                    "served": {"type": "object", "additionalProperties": ints},
                                    "end": num,
                                },
                                required=("ok",),
                            ),
                        },
                        required=WINDOW_FIELDS,
                    ),
                },
                "ledger": {"type": ["object", "null"]},
                "hops": {
                    "type": "array",
                    "items": rec(
                        {
                            "hop": str_,
                            "baseline": hop_stats,
                            "faults": {"type": "object", "additionalProperties": hop_stats},
                            "p99": num,
                            "threshold": num,
                            "crossed_in": {"type": "array", "items": str_},
                        }
                    ),
                },
                "guardrails": {"type": "array", "items": obj},
                "budget_warnings": {"type": "array", "items": str_},
                "deviations": {"type": "array", "items": str_},
                "unreverted": {
                    "type": "array",
                    "items": rec(
                        {
                            "fault": str_,
                            "action": str_,
                            "error": str_,
                            "attempts": {"type": "integer"},
                            "recover": str_,
                        }
                    ),
                },
            }
        ),
    }
    # optional: only present when the run added an audit record
    schema["properties"]["audit"] = obj
    return schema
