"""Images in, datasets out: uploads and zips (`uploads`), safe decoding (`images`), the content store
(`content`), the manifest with owners (`store`), adding images (`intake`), sticky splits (`splits`),
each run's own image lists (`pins`), deleting and removing what nothing uses (`removal`), health checks
(`health`), sample datasets (`samples`), and tensors for training (`transforms`, `cache`, `augment`).

The names below are the public face the pages and the CLI use; every dataset call takes the owner.
"""
from core.data.images import ImageRejected, decode, load_path
from core.data.intake import IngestReport, ingest
from core.data.removal import delete_dataset
from core.data.splits import SPLITS, Splits, assign_splits, for_spec, split_counts
from core.data.store import (
    Dataset,
    ImageRecord,
    add_class,
    check_trainable,
    class_counts,
    class_names,
    clean_dataset_name,
    create,
    duplicate_rows,
    find,
    image_rows,
    list_datasets,
    read_bytes,
    records,
    remove_class,
    rename,
    share,
)
from core.data.uploads import from_folder, from_uploads

__all__ = ["ImageRejected", "decode", "load_path", "IngestReport", "ingest", "delete_dataset", "SPLITS", "Splits", "assign_splits",
           "for_spec", "split_counts", "Dataset", "ImageRecord", "add_class", "check_trainable", "class_counts",
           "class_names", "clean_dataset_name", "create", "duplicate_rows", "find", "image_rows", "list_datasets",
           "read_bytes", "records", "remove_class", "rename", "share", "from_folder", "from_uploads"]
