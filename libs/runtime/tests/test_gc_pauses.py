"""The garbage collector's pauses are timed, and the long ones counted."""

import gc

from bangke_runtime.gc_pauses import YOUNG_THRESHOLD, GcPauses, settle_garbage_collector, watch_gc_pauses


def test_every_collection_timed() -> None:
    watcher = GcPauses(threshold_s=0.0)
    gc.callbacks.append(watcher)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(watcher)

    assert watcher.long_pauses == 1
    assert watcher.longest_s > 0


def test_installed_once() -> None:
    try:
        first = watch_gc_pauses()
        second = watch_gc_pauses()

        assert first is second
        assert sum(isinstance(callback, GcPauses) for callback in gc.callbacks) == 1
    finally:
        # Later tests close the streams that its log lines would go to.
        gc.callbacks[:] = [callback for callback in gc.callbacks if not isinstance(callback, GcPauses)]


def test_settle_freezes_start_up_objects() -> None:
    before = gc.get_threshold()
    try:
        settle_garbage_collector()

        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        gc.callbacks[:] = [callback for callback in gc.callbacks if not isinstance(callback, GcPauses)]
