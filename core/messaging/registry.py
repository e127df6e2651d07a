"""Which channel object sends for each channel name in this process.

``CARELOOP_CHANNEL_MODE=console`` uses :mod:`core.messaging.console` for every
channel; ``live`` uses what enabled plugins return from
``careloop_register_channels`` (a disabled plugin's channel disappears at once).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from core.messaging.console import console_channels

if TYPE_CHECKING:
    from core.messaging.channel import Channel
    from core.runtime import CareLoop

_cache: dict[tuple[int, str, frozenset[str]], dict[str, Any]] = {}
_lock = threading.Lock()


def channels_of(runtime: CareLoop) -> dict[str, Channel]:
    """Channel name -> channel object, cached per runtime, mode and enabled plugins."""
    plugins = runtime.plugins
    plugins.refresh()
    key = (id(runtime), runtime.config.channel_mode, frozenset(plugins.enabled))
    with _lock:
        found = _cache.get(key)
        if found is not None:
            return found
    if runtime.config.channel_mode == "console":
        found = dict(console_channels())
    else:
        found = {}
        # results come last-registered first: a later plugin overrides a channel name
        for channel in plugins.collect("careloop_register_channels"):
            found.setdefault(channel.name, channel)
    with _lock:
        stale = [k for k in _cache if k[0] == key[0]]
        for k in stale:
            del _cache[k]
        _cache[key] = found
    return found


def clear_cache() -> None:
    """Forget every cached channel (tests swapping channels call this)."""
    with _lock:
        _cache.clear()
