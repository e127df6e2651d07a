"""A small fake messaging provider on 127.0.0.1 that counts deliveries per idempotency key.

``POST /messages`` with JSON ``{"key": ..., "to": ..., "body": ...}`` answers
``200 {"id": "p-<n>"}``.  With ``dedupe=True`` a second message with the same
key is refused with ``409`` (as SMSAPI does with ``idx`` + ``check_idx``) and
not counted.  ``delay`` slows every call (so a killed worker is often caught
mid-call); ``fail_ratio`` answers some calls with ``503``.

It is a minimal HTTP/1.1 keep-alive server on asyncio in a thread of its own:
cheap per request, so on a small machine the benchmark measures CareLoop
rather than the fake.  Used by the fault test and the messaging benchmark.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from typing import Any


class FakeProvider:
    """Start with :meth:`start`; read :attr:`deliveries` (key -> count) afterwards."""

    def __init__(
        self,
        *,
        dedupe: bool = True,
        delay: tuple[float, float] = (0.0, 0.0),
        fail_ratio: float = 0.0,
    ) -> None:
        self.dedupe = dedupe
        self.delay = delay
        self.fail_ratio = fail_ratio
        self.deliveries: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.failed = 0
        self._accepted = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-provider")
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProvider:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, key: str) -> tuple[int, dict[str, Any]]:
        low, high = self.delay
        if high:
            await asyncio.sleep(random.uniform(low, high))
        if self.fail_ratio and random.random() < self.fail_ratio:
            self.failed += 1
            return 503, {"error": "try later"}
        if self.dedupe and self.deliveries[key]:
            self.refused[key] += 1
            return 409, {"error": "duplicate idempotency key"}
        self.deliveries[key] += 1
        self._accepted += 1
        return 200, {"id": f"p-{self._accepted}"}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                payload = json.loads(body or b"{}")
                status, answer = await self._accept(str(payload.get("key", "")))
                data = json.dumps(answer).encode()
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s"
                    % (status, b"OK" if status == 200 else b"ERR", len(data), data)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
