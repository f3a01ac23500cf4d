"""Training: the trainer (`trainer`), where batches come from (`sources`), devices and precision
(`device`), optimizers and schedules (`schedule`), events and the cancel exception (`events`), run
files (`checkpoints`), evaluation (`evaluate`), learning curves (`curves`) and the benchmark (`bench`)."""
