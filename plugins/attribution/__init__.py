"""Lead-source attribution: which advert, referral or channel brought each patient.

Records a *touchpoint* for the first-touch source given when a patient is
created and for every interaction that carries a lead source (a WhatsApp
click-to-chat referral, a tracked phone number, a web form's UTM source).
The writes happen in a worker so the registry write stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from core import Manifest, hookimpl
from core.audit import Actor
from core.timeline import TimelineEntry

manifest = Manifest(
    name="attribution",
    version="0.1.0",
    summary="Lead-source attribution: first touch and every tracked touchpoint",
    default_enabled=True,
)


@hookimpl
def careloop_register_migrations() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def careloop_register_models() -> list[type]:
    from plugins.attribution.models import Touchpoint

    return [Touchpoint]


@hookimpl
def careloop_on_patient_created(patient_id: int, lead_source: str | None) -> None:
    if lead_source:
        from plugins.attribution.actors import record_first_touch

        record_first_touch.send(patient_id)


@hookimpl
def careloop_on_patients_imported(patient_ids: list[int]) -> None:
    from plugins.attribution.actors import IMPORT_BATCH, record_first_touches

    for start in range(0, len(patient_ids), IMPORT_BATCH):
        record_first_touches.send(patient_ids[start : start + IMPORT_BATCH])


@hookimpl
def careloop_on_interaction_logged(
    interaction_id: int, direction: str, lead_source: str | None
) -> None:
    # only an inbound interaction that names its source is a touchpoint: no job otherwise
    if direction == "inbound" and lead_source:
        from plugins.attribution.actors import record_interaction_touch

        record_interaction_touch.send(interaction_id)


@hookimpl
def careloop_on_patients_merged(winner_id: int, loser_id: int, actor: Actor) -> None:
    from plugins.attribution.actors import move_touchpoints

    move_touchpoints.send(winner_id, loser_id)


@hookimpl
def careloop_patient_timeline_entries(
    session: Session, patient_id: int, before: dt.datetime | None, limit: int
) -> list[TimelineEntry]:
    from plugins.attribution.services import timeline_entries

    return timeline_entries(session, patient_id, before, limit)
