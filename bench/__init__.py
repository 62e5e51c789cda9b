"""Benchmarks of Corral against real etcd 3.4: `make bench` runs `python -m bench.run`.

`bench.report` holds the Row/Target/Report interface every phase reports through;
`bench.loadgen` is the lean load generator, always run as its own process.
"""
