"""FreezeAfterWarmUp: the heap is frozen once, after the warm-up's units of work."""

from __future__ import annotations

import gc

from core.gc_tuning import FreezeAfterWarmUp


def test_freezes_once_after_the_warm_up():
    gc.unfreeze()
    warm_up = FreezeAfterWarmUp(units=3)
    try:
        warm_up.tick()
        warm_up.tick()
        assert not warm_up.frozen and gc.get_freeze_count() == 0
        warm_up.tick()
        assert warm_up.frozen and gc.get_freeze_count() > 0
        gc.unfreeze()
        warm_up.tick()  # once only: later ticks do nothing
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
