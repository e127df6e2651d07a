"""A channel plugin that sends to :mod:`tests.messaging.fake_provider` over HTTP.

Worker subprocesses of the fault test and the benchmark load it; settings come
from ``CARELOOP_FAKE_PROVIDER_URL`` and ``CARELOOP_FAKE_PROVIDER_DEDUPE``
(test-only variables).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core import Manifest, hookimpl
from core.messaging.channel import (
    DuplicateSendRefused,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from core.messaging.http import ProviderHTTP

ROOT = Path(__file__).resolve().parents[2]


@dataclass(eq=False)
class HttpChannel:
    """``sms`` over the fake provider's HTTP API (with core's provider HTTP client)."""

    url: str
    provider_deduplicates: bool
    name: str = "sms"
    contact_kind: str = "phone"
    http: ProviderHTTP = field(init=False)
    messages_url: httpx.URL = field(init=False)

    def __post_init__(self) -> None:
        self.http = ProviderHTTP(self.url, timeout=5.0)
        self.messages_url = self.http.url("messages")

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            answer = self.http.post_json(
                self.messages_url,
                {"key": message.idempotency_key, "to": message.to, "body": message.body},
            )
        except httpx.TransportError as exc:
            raise TransientChannelError(type(exc).__name__) from exc
        if answer.status_code == 409:
            raise DuplicateSendRefused("provider already has this key")
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TransientChannelError(f"HTTP {answer.status_code}")
        if answer.status_code >= 400:
            raise PermanentChannelError(f"HTTP {answer.status_code}")
        return SendResult(provider_message_id=answer.json()["id"])


class HttpChannelPlugin:
    """The plugin object (register with ``runtime.plugins.add_module``)."""

    manifest = Manifest(name="fake_http", version="1.0", summary="fake HTTP provider channel")

    def __init__(self, url: str | None = None, dedupe: bool | None = None) -> None:
        env_dedupe = os.environ.get("CARELOOP_FAKE_PROVIDER_DEDUPE", "1") == "1"
        self.channel = HttpChannel(
            url or os.environ["CARELOOP_FAKE_PROVIDER_URL"],
            env_dedupe if dedupe is None else dedupe,
        )

    @hookimpl
    def careloop_register_channels(self) -> list[Any]:
        return [self.channel]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start :func:`worker_main` in a subprocess with *env*, appending its output to *log*."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from tests.messaging.http_channel import worker_main; worker_main()",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_workers(workers: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """SIGTERM every worker, wait for it, kill it if it does not stop in time."""
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def worker_main() -> None:
    """``careloop worker`` with this plugin registered (the subprocess entry point)."""
    from core.cli.worker import run_worker
    from core.runtime import create

    runtime = create()
    runtime.plugins.add_module(HttpChannelPlugin(), source="test")
    runtime.plugins.refresh(force=True)
    run_worker(
        runtime,
        threads=int(os.environ.get("CARELOOP_FAKE_WORKER_THREADS", "4")),
        interval=float(os.environ.get("CARELOOP_FAKE_WORKER_INTERVAL", "0.5")),
    )


if __name__ == "__main__":
    worker_main()
