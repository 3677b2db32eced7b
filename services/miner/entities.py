"""The miner's domain type: a run of one attempt of a campaign."""
from __future__ import annotations

from dataclasses import dataclass, field

from omp_services.common.vocabulary import RunStatus


@dataclass(frozen=True)
class Run:
    run_id: str
    campaign_id: str
    attempt: int
    status: RunStatus
    config_path: str
    config_hash: str
    run_dir: str
    pid: int
    proc_started: float             # the process's create time: a guard against pid reuse
    progress: dict = field(default_factory=dict)
    started_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    error: str = ""
    reported: bool = False          # the result reached the scheduler
    ended_by: str = ""              # who cancelled or killed it, as authenticated ("" : it ended by itself)
    miner_id: str = ""              # the miner that runs it ("": from before several miners)

    def __post_init__(self):
        object.__setattr__(self, "status", RunStatus(self.status))


#: the fields of a Run in order (the repository reads its columns in this order)
RUN_FIELDS = tuple(Run.__dataclass_fields__)
