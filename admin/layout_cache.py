"""Parts of the back-office layout that are the same for many requests, built once.

Flask-Admin's base template renders the menu on every page: it asks each view
``is_accessible()`` and ``is_visible()`` and builds each entry's URL.  For
CareLoop's views those answers depend only on the signed-in role and on which
plugins are enabled, so the menu's HTML is kept per (role, language, enabled
plugins, current page, script root) and reused.  A view whose class decides
access some other way (it overrides ``is_accessible`` or ``is_visible``) is
asked on every request, and its answers are part of the key; so is any menu
entry that is not a view (a link, a divider).

Static asset URLs (``url_for('admin.static', ...)``) are kept per script root, and
the layout's stylesheet and script tags per script root, swatch and the view's extra
CSS and JS (unless the page has a CSP nonce).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request, url_for
from markupsafe import Markup

from admin.views.base import _AccessMixin, current_role
from core import i18n

#: entries kept at most (roles x languages x pages x plugin states stay far below it)
MAX_ENTRIES = 2048

_MENU_SOURCE = (
    "{% import 'admin/layout.html' as layout with context %}"
    "{{ layout.menu() }}\x00{{ layout.menu_links() }}"
)


def _decided_by_role(view: Any) -> bool:
    """True when *view* answers ``is_accessible``/``is_visible`` from the role and plugins only."""
    cls = type(view)
    return (
        isinstance(view, _AccessMixin)
        and cls.is_accessible is _AccessMixin.is_accessible
        and cls.is_visible is _AccessMixin.is_visible
    )


class _AdminMenus:
    """The menu cache of one :class:`flask_admin.Admin`."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.shape: tuple[int, int, int] | None = None
        self.asked: list[Any] = []
        self.html: dict[tuple[Any, ...], tuple[Markup, Markup]] = {}

    def _items_to_ask(self) -> list[Any]:
        """Menu entries whose visibility is not a function of role and plugins."""
        admin = self.admin
        shape = (len(admin._views), len(admin._menu), len(admin._menu_links))
        if shape != self.shape:
            asked: list[Any] = []
            stack = [*admin.menu(), *admin.menu_links()]
            while stack:
                item = stack.pop()
                children = getattr(item, "_children", None) or []
                stack.extend(children)
                if item.is_category():
                    continue  # shown when a child is: the children are in the key
                view = getattr(item, "_view", None)
                if view is None or not _decided_by_role(view):
                    asked.append(item)
            self.asked = asked
            self.html.clear()
            self.shape = shape
        return self.asked

    def render(self, admin_view: Any) -> tuple[Markup, Markup]:
        runtime = current_app.extensions["careloop"]  # plugins refreshed before the request
        locale = i18n.current_locale()
        key = (
            current_role(),
            locale,
            i18n.translations(locale),  # a reloaded catalogue renders afresh
            request.script_root,
            admin_view.endpoint,
            runtime.plugins.enabled,
            tuple(bool(i.is_accessible() and i.is_visible()) for i in self._items_to_ask()),
        )
        found = self.html.get(key)
        if found is None:
            template = current_app.jinja_env.from_string(_MENU_SOURCE)
            menu, _sep, links = template.render(admin_view=admin_view).partition("\x00")
            found = (Markup(menu), Markup(links))  # noqa: S704 - autoescaped by Jinja
            if len(self.html) >= MAX_ENTRIES:
                self.html.clear()
            self.html[key] = found
        return found


def _menus(admin: Any) -> _AdminMenus:
    menus = getattr(admin, "_careloop_menus", None)
    if menus is None:
        menus = _AdminMenus(admin)
        admin._careloop_menus = menus
    return menus


def _for_page(admin_view: Any) -> tuple[Markup, Markup]:
    """This request's menu and links (looked up once a request, for both)."""
    found = g.get("careloop_menu")
    role = current_role()
    if found is None or found[0] is not admin_view or found[1] != role:
        found = (admin_view, role, _menus(admin_view.admin).render(admin_view))
        g.careloop_menu = found
    return found[2]


def menu(admin_view: Any) -> Markup:
    """The main menu's ``<li>`` entries for this page and signed-in role."""
    return _for_page(admin_view)[0]


def menu_links(admin_view: Any) -> Markup:
    """The menu links' ``<li>`` entries (right of the main menu)."""
    return _for_page(admin_view)[1]


_STATIC: dict[tuple[str, str, str, str | None], str] = {}


def static_url(admin_view: Any, filename: str, v: str | None = None) -> str:
    """``url_for('<admin>.static', filename=..., v=...)``, built once per script root."""
    endpoint = admin_view.admin.endpoint
    key = (request.script_root, endpoint, filename, v)
    url = _STATIC.get(key)
    if url is None:
        values = {"filename": filename} if v is None else {"filename": filename, "v": v}
        url = url_for(f"{endpoint}.static", **values)
        if len(_STATIC) >= MAX_ENTRIES:
            _STATIC.clear()
        _STATIC[key] = url
    return url


_ASSETS: dict[tuple[Any, ...], Markup] = {}


def assets(render: Any, admin_view: Any, swatch: str, nonce: Any) -> Markup:
    """The layout's stylesheet or script tags: ``render()`` (a macro of the layout), kept
    per script root, Flask-Admin instance, swatch and the view's extra CSS and JS.

    A page with a CSP nonce renders them every time (the nonce is per request).
    """
    if nonce:
        return Markup(render())  # noqa: S704 - a macro's output, autoescaped by Jinja
    key = (
        render.name,
        request.script_root,
        admin_view.admin.endpoint,
        swatch,
        tuple(admin_view.extra_css or ()),
        tuple(admin_view.extra_js or ()),
    )
    html = _ASSETS.get(key)
    if html is None:
        html = Markup(render())  # noqa: S704 - a macro's output, autoescaped by Jinja
        if len(_ASSETS) >= MAX_ENTRIES:
            _ASSETS.clear()
        _ASSETS[key] = html
    return html


def install(app: Any) -> None:
    """Make ``careloop_menu``, ``careloop_menu_links``, ``careloop_static`` and
    ``careloop_assets`` template globals."""
    app.jinja_env.globals.update(
        careloop_menu=menu,
        careloop_menu_links=menu_links,
        careloop_static=static_url,
        careloop_assets=assets,
    )
