"""A Flask test client for webhook tests, built like the real app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask

from core.runtime import CareLoop

PROVIDER_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"


def load_fixture(name: str) -> Any:
    """A provider payload sample from ``tests/fixtures/providers`` (JSON parsed)."""
    text = (PROVIDER_FIXTURES / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


def web_app(runtime: CareLoop) -> Flask:
    """``admin.create_app(runtime=...)``, which registers every plugin's blueprints."""
    from admin.app import create_app

    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return app
