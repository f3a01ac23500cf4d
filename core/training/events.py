"""What the training loop reports and how it stops: event names (fastai-style callbacks as plain
dicts), the one cancel exception, and the failure a person can act on."""
from __future__ import annotations

from typing import Callable

from core.errors import UserError

Emit = Callable[[dict], None]
# fit_start → (extract …) → (step …, epoch) per epoch, unfreeze, early_stop, restore_best → fit_end;
# the worker adds retry and error.
EVENTS = ("fit_start", "extract", "step", "epoch", "unfreeze", "early_stop", "restore_best", "fit_end",
          "retry", "error")


class Cancelled(Exception):
    """A stop request; handled in one place (the run ends as cancelled)."""


class TrainingFailed(UserError):
    """Training cannot go on (NaN loss, …); the message says what to change."""
