"""Use cases, one function per CLI verb. Each owns its transaction, returns data and never prints."""

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk command (import, worklist of everyone).

    They make and drop millions of small acyclic objects (records, rows), which reference
    counting frees at once; the cyclic collector would only keep re-scanning the live ones: about
    a quarter of an import's time (docs/performance.md). What few cycles are made meanwhile are
    collected after the block, as usual."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
