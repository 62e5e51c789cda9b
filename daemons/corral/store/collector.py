"""The cyclic garbage collector's policy for a process that holds the key tree.

The tree's nodes live long and form no garbage cycles (a node is freed by its
count: removal unlinks its parent), yet every full collection walks them all. The
server's start-up sets this policy for the process; the embedded backend pauses the
collector while it rebuilds the tree.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Generation-1 collections between two full ones (CPython's default: 10). A full
# collection walks every node (0.1 s at 300k keys): at the default it ran 56 times
# while 300k keys were written in-process (2.5 s of a 10.8 s fill), at 100 six times
# (0.3 s; the fill took 8.4 s).
FULL_COLLECTION_EVERY = 100


def tune_for_a_long_lived_tree() -> None:
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


@contextlib.contextmanager
def paused(freeze: bool = False) -> Iterator[None]:
    """For loading the tree: millions of objects that all live on, which the cyclic
    collector would only scan again and again (1M keys: 28 full collections, 1.8 s
    of a 6.9 s start). `freeze` moves what exists at the end out of every later
    collection (a full one over 1M keys paused every client for 0.3 s); unfrozen,
    they are all young when it resumes and its first collection takes them in at
    once (0.37 s at 1M keys)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()
