"""Flask application factory."""

from __future__ import annotations

from flask import Flask, jsonify

from core.config import Config
from core.runtime import CareLoop, create


def create_app(config: Config | None = None, runtime: CareLoop | None = None) -> Flask:
    """Build the web app for *runtime* (or a new runtime from *config* / the environment)."""
    runtime = runtime or create(config)
    app = Flask(__name__)
    app.config["SECRET_KEY"] = runtime.config.effective_secret_key
    app.extensions["careloop"] = runtime

    @app.before_request
    def refresh_plugins() -> None:
        runtime.plugins.refresh()

    @app.get("/health")
    def health():
        with runtime.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return jsonify(status="ok", plugins=sorted(runtime.plugins.enabled))

    return app
