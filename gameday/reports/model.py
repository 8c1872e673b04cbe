"""The report model in one import: the Report, its sections, building and re-judging one.

Each part lives in its own module: `report` (the Report and its JSON round trip),
`sections` (scenario, target, faults, manual steps), `evidence` (samples, traffic,
objective results, hops as JSON), `canon` (canonical values, redaction), `build`
(evaluating a drill into a Report) and `schema` (the JSON Schema of report.json).
"""

from __future__ import annotations

from ..analysis.canon import canon, redact
from .build import build_report, recompute_objectives, relative_timeline
from .evidence import result_json as _result_json
from .report import SCHEMA_VERSION, Report, timeline_from_report
from .schema import report_json_schema
from .sections import FaultRecord, ManualStepRecord, ScenarioInfo, TargetInfo

__all__ = [
    "SCHEMA_VERSION",
    "FaultRecord",
    "ManualStepRecord",
    "Report",
    "ScenarioInfo",
    "TargetInfo",
    "_result_json",
    "build_report",
    "canon",
    "recompute_objectives",
    "redact",
    "relative_timeline",
    "report_json_schema",
    "timeline_from_report",
]
