"""The back-office home page: who is signed in and the caller-ID box."""

from __future__ import annotations

from typing import Any

from flask_admin import AdminIndexView, expose

from admin.views.base import current_role, deny


class HomeView(AdminIndexView):
    """Any signed-in staff member may open it; anonymous visitors go to sign-in."""

    def is_accessible(self) -> bool:
        return current_role() is not None

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return deny()

    @expose("/")
    def index(self) -> Any:
        return self.render("careloop/home.html")
