"""Attribution's background jobs (ids in, idempotent)."""

from __future__ import annotations

from core.runtime import CareLoop
from core.tasks import plugin_actor
from plugins.attribution import services

#: patient ids per ``record_first_touches`` message
IMPORT_BATCH = 5000


@plugin_actor("attribution", max_retries=5)
def record_first_touch(runtime: CareLoop, patient_id: int) -> None:
    with runtime.transaction() as session:
        services.record_first_touch(session, patient_id)


@plugin_actor("attribution", max_retries=5)
def record_interaction_touch(runtime: CareLoop, interaction_id: int) -> None:
    with runtime.transaction() as session:
        services.record_interaction_touch(session, interaction_id)


@plugin_actor("attribution", max_retries=5)
def move_touchpoints(runtime: CareLoop, winner_id: int, loser_id: int) -> None:
    with runtime.transaction() as session:
        services.move_touchpoints(session, winner_id, loser_id)


@plugin_actor("attribution", max_retries=5)
def record_first_touches(runtime: CareLoop, patient_ids: list[int]) -> None:
    """First touches for a batch of imported patients (one statement, idempotent)."""
    with runtime.transaction() as session:
        services.record_first_touches(session, patient_ids)
