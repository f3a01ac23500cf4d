"""The record of what was asked and what happened: runs, their jobs and metrics (`store`), a job's
lifecycle (`status`: the one writer of a status), submitting, cancelling and resuming (`queue`), what a
submit must obey (`admission`: a class's rules), which queued job goes next (`fairness`), who holds
which job (`leases`), and the wizard's drafts (`drafts`). No torch at import: the supervisor reads
and writes the record through `leases`, `store` and `status` alone.

Executing jobs is `core.execute`'s; recipes that queue many runs at once are `core.recipes`'.
"""
