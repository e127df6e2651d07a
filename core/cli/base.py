"""Shared pieces of the CLI: the lazily built runtime and error reporting."""

from __future__ import annotations

from typing import NoReturn

import click

from core.config import Config
from core.runtime import CareLoop, create


class CliState:
    """Per-invocation state; the runtime is built on first use."""

    def __init__(self, config: Config | None = None) -> None:
        self._config = config
        self._runtime: CareLoop | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config.from_env()
        return self._config

    @property
    def runtime(self) -> CareLoop:
        if self._runtime is None:
            self._runtime = create(self.config)
        return self._runtime


pass_state = click.make_pass_decorator(CliState, ensure=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print *message* as an error and exit with *code*."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
