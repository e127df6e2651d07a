"""Fixtures for the shared webhook plumbing's tests."""

from __future__ import annotations

from tests.fakes.fixtures import _fake_smsapi_server, fake_smsapi  # noqa: F401
