"""Fake provider HTTP servers (WhatsApp Cloud API, SendGrid, SMSAPI) on 127.0.0.1.

Used by the channel plugins' tests (``tests.fakes.fixtures``) and by benchmarks
and fault tests: start one with ``with FakeSmsApi() as fake: ... fake.url``.
"""

from .base import FakeProvider, Request, Response
from .sendgrid import FakeSendGrid
from .smsapi import FakeSmsApi
from .whatsapp import FakeWhatsApp

__all__ = ["FakeProvider", "FakeSendGrid", "FakeSmsApi", "FakeWhatsApp", "Request", "Response"]
