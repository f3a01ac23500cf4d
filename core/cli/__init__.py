"""The command line: a leaf registry (`registry`), the entry point (`main`, which loads the command
modules, the worker's alone), and one module per command group (`data`, `models`, `train`, `runs`,
`worker`, `serve`, `lab`, `classroom`, `study`, `cleaner`)."""
