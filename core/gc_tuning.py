"""Keep the garbage collector's full passes short in long-running processes.

A web or worker process holds some 150,000 long-lived objects once warm
(models, compiled templates, phone-number metadata, plugin code).  CPython's
full (generation 2) collection walks every one of them: about 130 ms on the
back office's list page, in the middle of whichever request triggered it; that
pause was most of the page's p99.  :func:`gc.freeze` moves the objects alive
at that moment into a permanent generation the collector no longer walks
(they would never be freed anyway), so later full passes only look at what
requests and jobs allocate.

Freezing right after start-up would miss what is loaded lazily by the first
requests (templates, SQL compiled caches), so :class:`FreezeAfterWarmUp`
collects and freezes once, after a number of units of work.  That one
request pays the collection (~130 ms) once per process; in a threaded server
the objects of requests still running then are frozen too (a one-off, small).
"""

from __future__ import annotations

import gc
import itertools
import threading

#: units of work (requests) before the one-off collect-and-freeze
WARM_UP_UNITS = 200


class FreezeAfterWarmUp:
    """Call :meth:`tick` after each unit of work; the *units*-th call freezes the heap."""

    def __init__(self, units: int = WARM_UP_UNITS) -> None:
        self.units = units
        self._counter = itertools.count(1)
        self._done = threading.Event()

    @property
    def frozen(self) -> bool:
        return self._done.is_set()

    def tick(self) -> None:
        if self._done.is_set():
            return
        if next(self._counter) >= self.units and not self._done.is_set():
            self._done.set()
            gc.collect()  # what is garbage now must not be frozen with the rest
            gc.freeze()
