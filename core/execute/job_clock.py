"""A job's clock in its slot: when it was claimed, when its first optimisation step ran, when it finished,
and whether the slot was warm for it. The job's summary carries `claim_to_first_step_s` and `warm`
(`classroom-sim` reports them), and the slot logs one line per job, e.g.

    job 12 run 3f2a9c succeeded, warm: claimed 05:31:02.1, first step 05:31:04.5 (+2.40 s), finished 05:31:09.0 (6.90 s)

Warm: the slot had warmed up (or run a job) before this one, and the job read no trunk weights from disk
(they were copied from the slot's `pretrained_cache`). Cold: anything else, such as a slot's first job on a
backbone it had not warmed, an imported checkpoint, or a `run:` backbone (read from the run's files).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.models import pretrained_cache


@dataclass
class JobClock:
    ready: bool = False  # the slot warmed up or ran a job before this one
    claimed: float = field(default_factory=time.time)
    reads: int = field(default_factory=pretrained_cache.reads)  # trunk reads of the process at the claim
    first_step_at: float | None = None

    def facts(self, summary: dict) -> dict:
        """What the job's summary adds: seconds from claim to the first step, and warm or not."""
        self.first_step_at = summary.get("first_step_at")
        return {"claim_to_first_step_s": self.to_first_step(), "warm": self.warm()}

    def warm(self) -> bool:
        return self.ready and pretrained_cache.reads() == self.reads

    def to_first_step(self) -> float | None:
        return None if self.first_step_at is None else round(self.first_step_at - self.claimed, 3)

    def line(self, job: dict, ended: str) -> str:
        """The slot's one log line for a job that ended `ended`."""
        now = time.time()
        first = "none" if self.first_step_at is None else \
            f"{_clock(self.first_step_at)} (+{self.first_step_at - self.claimed:.2f} s)"
        return (f"job {job['id']} run {job['run_id']} {ended}, {'warm' if self.warm() else 'cold'}: "
                f"claimed {_clock(self.claimed)}, first step {first}, finished {_clock(now)} "
                f"({now - self.claimed:.2f} s)")


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 10) % 10}"
