"""What the training loop reports and how it stops: event names (fastai-style callbacks as plain
dicts), the one cancel exception, and the failure a person can act on."""
from __future__ import annotations

from typing import Callable

from core.errors import UserError

# The events, in order: fit_start → (extract …) → (step …, epoch) per epoch, unfreeze, early_stop,
# budget (its time budget spent: no further epoch), restore_best → fit_end; how a job ends adds retry
# and error (`execute.outcome`).
Emit = Callable[[dict], None]


class Cancelled(Exception):
    """A stop request; handled in one place (the run ends as cancelled)."""


class TrainingFailed(UserError):
    """Training cannot go on (NaN loss, …); the message says what to change."""
