"""Run one fake provider in its own process: ``python -m tests.fakes smsapi --port 8081``.

It prints its base URL and serves until interrupted; control it over HTTP
(``/_fake/...``, see :mod:`tests.fakes.base`).
"""

from __future__ import annotations

import argparse
import time

from . import FakeSendGrid, FakeSmsApi, FakeWhatsApp

FAKES = {"whatsapp": FakeWhatsApp, "sendgrid": FakeSendGrid, "smsapi": FakeSmsApi}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes")
    parser.add_argument("provider", choices=sorted(FAKES))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--no-requests", action="store_true", help="do not keep every request (long runs)"
    )
    args = parser.parse_args()
    fake = FAKES[args.provider](port=args.port, keep_requests=not args.no_requests)
    with fake:
        print(fake.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
