"""Taking data away: deleting a dataset, and removing the image files nothing references any more.

A file is referenced by a dataset's image (`store`), a run's pinned list (`pins`) or a deletion that
can still be undone (`cleaner`); each of those rooms answers for its own table. A run deleted later
hands its pinned hashes here too (`runs.store.delete_run`).
"""
from __future__ import annotations

from core.data import cleaner, content, pins, store


def collect(candidates: set[str]) -> int:
    """Remove the files among `candidates` that nothing references (reference counting in the
    content store). Returns how many files went."""
    if not candidates:
        return 0
    gone = candidates - store.shas_in_use(candidates) - pins.shas_in_use(candidates) - cleaner.awaiting_undo(candidates)
    content.remove(gone)
    return len(gone)


def delete_dataset(name: str, owner: str | None = None, force: bool = False) -> dict:
    """Delete a dataset unless runs pinned images from it; forced, those runs keep their images
    (their pins hold the files) and stay readable."""
    dataset = store.find(name, owner, write=True)
    used_by = pins.refs_using(dataset.id)
    edited = cleaner.edited_shas(dataset.id)  # read first: the edits go with the dataset
    hashes = store.delete(name, owner, used_by=used_by, force=force) | edited
    return {"dataset": dataset.name, "images": len(hashes), "files_removed": collect(hashes), "runs_kept": used_by}
