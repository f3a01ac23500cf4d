"""The clocks both executors keep, the local slots and the Ray dispatcher alike: how often a running
job looks for a cancel request, how often the dead holders' jobs are recovered, and how long a
stopping worker waits for its jobs before it interrupts them."""
from __future__ import annotations

CANCEL_POLL_SECONDS = 0.5  # a running job reads its cancel flag at most this often (it checks every batch)
RECOVER_SECONDS = 10.0  # jobs of dead holders (a killed slot or in-process trainer) become interrupted this often
STOP_GRACE_SECONDS = 30.0  # a stopping worker's jobs get this long to finish; the rest are interrupted (resumable)
