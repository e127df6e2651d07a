"""Panels that plugins add to the patient 360° page (``careloop_patient_panels``).

A panel is plain text, or HTML that is already safe because it came from an
autoescaping template render (:func:`render_panel`).  Only a
:class:`markupsafe.Markup` is shown as HTML; a plain ``str`` given as ``html``
is escaped like any other stored text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

_ENV = Environment(autoescape=True)


@dataclass(frozen=True)
class PatientPanel:
    """One box on the patient 360° page.

    :param title: the heading (escaped).
    :param text: plain-text content (escaped), or ``None``.
    :param html: safe HTML from :func:`render_panel`, or ``None``.
    :param order: panels are shown by ascending order, then title.
    """

    title: str
    text: str | None = None
    html: Markup | None = None
    order: int = 100


def render_panel(title: str, template: str, *, order: int = 100, **context: Any) -> PatientPanel:
    """Render *template* (Jinja, autoescaped: stored text stays text) into a panel."""
    # safe: the environment autoescapes every variable the template prints
    html = Markup(_ENV.from_string(template).render(**context))  # noqa: S704
    return PatientPanel(title=title, html=html, order=order)
