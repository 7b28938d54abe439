"""cmkit's benchmark: search, transfer, deactivation and frame() on a million customers (`make bench`).

`python -m bench [--url URL] [--customers N] [--tickets N]` builds (once) a demo database of that size,
times each operation through cmkit and, in the same run on the same database, the same work done by
hand-written SQL through the bare driver (the lower bound), prints a table of p50/p95 with their ratio
and writes it as JSON under bench/results/.
"""
