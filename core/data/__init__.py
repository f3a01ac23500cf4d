"""Images in, datasets out: uploads and zips (`uploads`), safe decoding (`images`), the content-addressed
store and manifest (`store`), adding images (`intake`), splits (`splits`), health checks (`health`),
sample datasets (`samples`), and tensors for training (`transforms`, `cache`, `augment`).

The names below are the public face the pages and the CLI use.
"""
from core.data.images import ImageRejected, decode, load_path
from core.data.intake import IngestReport, ingest
from core.data.splits import SPLITS, Splits, assign_splits, ensure_split, for_spec, split_counts
from core.data.store import (ImageRecord, add_class, check_trainable, class_counts, class_names,
                             clean_dataset_name, create, delete, duplicate_rows, image_rows, list_datasets,
                             read_bytes, records, rename)
from core.data.uploads import from_folder, from_uploads

__all__ = ["ImageRejected", "decode", "load_path", "IngestReport", "ingest", "SPLITS", "Splits", "assign_splits",
           "ensure_split", "for_spec", "split_counts", "ImageRecord", "add_class", "check_trainable",
           "class_counts", "class_names", "clean_dataset_name", "create", "delete", "duplicate_rows", "image_rows",
           "list_datasets", "read_bytes", "records", "rename", "from_folder", "from_uploads"]
