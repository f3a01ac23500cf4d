"""The command line: a leaf registry (`registry`), the entry point (`main`), and one module per
command group (`data`, `models`, `train`, `runs`, `serve`, `lab`)."""
