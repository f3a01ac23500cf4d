"""How many jobs one device runs at once: 1 on CPU (two CPU jobs on 2 cores each run 3-4× slower,
measured), and on CUDA as many as the free GPU memory holds at the peak measured for recent jobs.
Asked by the supervisor for its slots and by the Ray executor for each GPU node's share. Also each
slot's share of the CPU cores (`thread_share`): the supervisor tells every slot how many there are."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from core.runs import store

MAX_SLOTS = 8
DEFAULT_PEAK_MB = 6000.0  # a job's GPU peak until one has been measured here
GPU_HEADROOM = 0.9


def auto_slots() -> int:
    gpu = _gpu_memory()
    if gpu is None:
        return 1
    free_mb, _ = gpu
    return slots_for(free_mb)


def slots_for(free_mb: float) -> int:
    """Jobs a GPU with `free_mb` free holds at the peak measured here."""
    return max(1, min(MAX_SLOTS, int(free_mb * GPU_HEADROOM // measured_peak_mb())))


def measured_peak_mb() -> float:
    """The largest GPU peak recent jobs reported, or DEFAULT_PEAK_MB before any did."""
    return store.peak_gpu_mb() or DEFAULT_PEAK_MB


def _gpu_memory() -> tuple[float, float] | None:
    """(free, total) MB of GPU 0, asked in a child process: the supervisor keeps no CUDA context
    (and never imports torch)."""
    probe = "import json, torch; print(json.dumps([m / 2**20 for m in torch.cuda.mem_get_info()] " \
            "if torch.cuda.is_available() else None))"
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        found = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None
    return tuple(found) if found else None


def thread_share(slots: int, cores: int | None = None) -> int:
    """CPU threads for one of `slots` slots: its share of the cores. Left at torch's default (a thread per
    core), 8 slots on a 16-core server ran 8 × 16 threads for decoding, resizing and augmentation: the CPU
    oversubscribed 8-fold, the suspect of the H200 classroom run that had not finished after 215 s."""
    return max(1, (cores or cpu_cores()) // max(1, slots))


def cpu_cores() -> int:
    """The cores this process may run on (a container's or `taskset`'s share, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
