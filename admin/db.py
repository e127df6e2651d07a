"""Flask-SQLAlchemy-Lite over the runtime's engine, the supported way into Flask-Admin 2.x.

Flask-Admin views get ``db``; its sessions come from a sessionmaker bound to
the runtime's engine, carry the runtime's configuration (``config_of``) and
fire hooks after commit, like ``runtime.session()``.  The extension closes
them at the end of each app context.
"""

from __future__ import annotations

from flask import Flask
from flask_sqlalchemy_lite import SQLAlchemy
from flask_sqlalchemy_lite._extension import _close_async_sessions, _State
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import sessionmaker

from core import events
from core.config import CONFIG_KEY
from core.runtime import CareLoop


def init_db(app: Flask, runtime: CareLoop) -> SQLAlchemy:
    """Attach a Flask-SQLAlchemy-Lite extension that reuses *runtime*'s engine."""
    db = SQLAlchemy(require_default_engine=False)
    db.init_app(app)
    # no async engines here: drop Lite's async teardown, which Flask would run through
    # asgiref on every request (slow, and refused while an event loop runs in the thread)
    app.teardown_appcontext_funcs[:] = [
        func for func in app.teardown_appcontext_funcs if func is not _close_async_sessions
    ]
    factory = sessionmaker(
        runtime.db.engine, expire_on_commit=False, info={CONFIG_KEY: runtime.config}
    )
    events.install(factory, runtime.plugins.dispatch)
    # Lite builds engines from app.config; hand it ours instead (one pool, our pragmas).
    db._app_state[app] = _State(
        engines={"default": runtime.db.engine},
        sessionmaker=factory,
        async_engines={},
        async_sessionmaker=async_sessionmaker(),
    )
    return db
