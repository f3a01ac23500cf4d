"""Recipes that queue several runs to show one claim of transfer learning: the freeze sweep (`sweeps`:
one run per frozen depth), the learning-curve lab (`datasize`: growing training subsets, pretrained
beside scratch) and the one-click demo (`demo`)."""
