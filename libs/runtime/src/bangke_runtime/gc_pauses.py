"""Log the garbage collector's long pauses.

A collection runs on the thread that allocated, so a full collection of a process with large caches
stops the event loop (every consumer, the relay and the HTTP API) until it ends.
"""

import gc
import time
from typing import Any

import structlog

log = structlog.get_logger()

LONG_PAUSE_S = 0.05
"""Minimum duration of a collection that is logged, in seconds."""


class GcPauses:
    """A ``gc.callbacks`` entry that times every collection and logs the long ones."""

    def __init__(self, threshold_s: float = LONG_PAUSE_S) -> None:
        self.threshold_s = threshold_s
        self.longest_s = 0.0
        self.long_pauses = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        self.longest_s = max(self.longest_s, seconds)
        if seconds >= self.threshold_s:
            self.long_pauses += 1
            log.info(
                "gc.long_pause", generation=info.get("generation"), ms=round(seconds * 1000, 1),
                collected=info.get("collected"), tracked_objects=len(gc.get_objects(info.get("generation", 2))),
            )


def watch_gc_pauses(threshold_s: float = LONG_PAUSE_S) -> GcPauses:
    """Install the callback once per process and return it."""
    for callback in gc.callbacks:
        if isinstance(callback, GcPauses):
            return callback
    watcher = GcPauses(threshold_s)
    gc.callbacks.append(watcher)
    return watcher


YOUNG_THRESHOLD = 20_000
"""Allocations between collections of the youngest generation (Python's default is 700)."""


def settle_garbage_collector() -> None:
    """Exclude what start-up built from later collections, and collect the young generation less often.

    Called once by a service process before it serves, which also starts logging long pauses.

    A full collection walks every tracked object. The modules, schemas and app built at start-up were
    about 115,000 tracked objects in each service of the local stack, and they live as long as the
    process, so ``gc.freeze`` takes them out of every later collection. With a larger first threshold,
    the objects of a batch in flight are more often freed before a collection, so fewer are promoted.
    CPython runs a full collection once the promoted objects reach a quarter of the older ones, so
    fewer promotions mean fewer full collections.
    """
    watch_gc_pauses()
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
