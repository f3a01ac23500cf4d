"""Using finished runs: predictions and Grad-CAM from a run's own files (`predict`, `explain`), and
export with verification plus a model card (`export`)."""
