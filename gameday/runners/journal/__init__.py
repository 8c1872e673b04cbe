"""Write-ahead journal of a drill: every fault is on disk (fsync'd) before it is touched.

One JSON object per line in ``<run dir>/journal.jsonl``. A runner that dies, even by
SIGKILL or power loss, leaves enough behind for ``gameday recover`` to undo what it did:
``fault.planned`` is written before ``apply``, so a plan journaled but maybe never applied
is still reverted (reverting is idempotent). An index of active drills
(``<gameday home>/runs/active/<run_id>.json``, per user, independent of the working
directory) lets ``recover`` find journals without a path.

While a runner lives it holds a shared ``flock`` on its journal: that, not the pid
alone, is how ``recover`` knows a runner is alive (pids are reused, flocks die with
their holder).

Modules: `records` (the format), `writer` (`Journal`), `reader` (`read_journal`),
`index` (the active drills), `liveness` (flocks and process identity), `paths`, `durable`.
"""

from .durable import fsync_dir, write_durable_json
from .index import (
    ActiveRun,
    IndexEntry,
    active_journals,
    active_runs,
    index_entries,
    register,
    unregister,
)
from .liveness import exclusive, journal_held, proc_cmdline, proc_start_ticks, process_matches
from .paths import (
    default_index_dir,
    fallback_home,
    gameday_home,
    run_dir_for,
    search_index_dirs,
    utc_stamp,
)
from .reader import JournalState, PlanEntry, ProcessEntry, read_journal
from .records import JOURNAL_FILE, JOURNAL_VERSION, STATUS, JournalError, PlanStatus
from .writer import Journal

__all__ = [
    "JOURNAL_FILE",
    "JOURNAL_VERSION",
    "STATUS",
    "ActiveRun",
    "IndexEntry",
    "Journal",
    "JournalError",
    "JournalState",
    "PlanEntry",
    "PlanStatus",
    "ProcessEntry",
    "active_journals",
    "active_runs",
    "default_index_dir",
    "exclusive",
    "fallback_home",
    "fsync_dir",
    "gameday_home",
    "index_entries",
    "journal_held",
    "proc_cmdline",
    "proc_start_ticks",
    "process_matches",
    "read_journal",
    "register",
    "run_dir_for",
    "search_index_dirs",
    "unregister",
    "utc_stamp",
    "write_durable_json",
]
