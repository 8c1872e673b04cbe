"""gameday.traffic: Locust for the whole drill, steered and measured from the engine.

Importing this package never imports Locust (gevent's monkey-patching stays in Locust's
own processes); `gameday_locust_plugin` and `profiles/*.py` are loaded by Locust only.
"""

from gameday.traffic.control import ControlEntry, SurgeStep, surge_schedule
from gameday.traffic.runner import TrafficConfig, TrafficError, TrafficProcess, TrafficRun
from gameday.traffic.stats import Outcome, TrafficEvent, TrafficWindow, classify, parse_line

__all__ = [
    "ControlEntry",
    "Outcome",
    "SurgeStep",
    "TrafficConfig",
    "TrafficError",
    "TrafficEvent",
    "TrafficProcess",
    "TrafficRun",
    "TrafficWindow",
    "classify",
    "parse_line",
    "surge_schedule",
]
