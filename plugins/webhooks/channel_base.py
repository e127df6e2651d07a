"""A base for channel objects whose provider client is built from the configuration."""

from __future__ import annotations

import threading
from typing import Any

from core.config import Config
from core.messaging.channel import ChannelError, PermanentChannelError, TransientChannelError


def http_error(label: str, status: int) -> ChannelError:
    """A provider's HTTP error: 429 and 5xx are worth a retry, other 4xx are not."""
    text = f"{label} HTTP {status}"
    if status == 429 or status >= 500:
        return TransientChannelError(text)
    return PermanentChannelError(text)


def runtime_config() -> Config:
    """The configuration of this process's runtime (web app, worker, test)."""
    from core.runtime import process_runtime

    return process_runtime().config


class ConfiguredChannel:
    """Keeps one provider client per configuration; subclasses say how to build it."""

    def __init__(self, config: Config | None = None) -> None:
        self._config = config
        self._client: Any = None
        self._client_config: Config | None = None
        self._lock = threading.Lock()

    @property
    def config(self) -> Config:
        return self._config or runtime_config()

    def build_client(self, config: Config) -> Any:
        """Create the provider client (raise ConfigurationError when settings are missing)."""
        raise NotImplementedError

    def client(self) -> Any:
        """The client for the current configuration (rebuilt when the runtime changes)."""
        config = self.config
        with self._lock:
            if self._client is None or self._client_config is not config:
                self._client = self.build_client(config)
                self._client_config = config
            return self._client
