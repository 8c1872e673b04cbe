"""The pure analysis layer: the drill's clock and timeline, milestones, objectives, timing budget.

No I/O: everything here is computed from a timeline of samples and events and from the
scenario, so a report can be recomputed bit-identically from its report.json.
"""
