"""Policy rules as pure functions: quiet hours, caps, consent, channel choice, 24-hour window."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.errors import ConfigurationError
from core.messaging import policy
from core.messaging.policy import Recipient, decide

NOW = dt.datetime(2026, 11, 23, 5, 0, tzinfo=dt.UTC)  # 12:00 in Jakarta
KINDS = {"whatsapp": "whatsapp", "sms": "phone", "email": "email"}


def _recipient(**kwargs) -> Recipient:
    kwargs.setdefault("addresses", {"phone": "+628111", "email": "a@example.org"})
    kwargs.setdefault("consents", {("sms", "care"): "granted", ("email", "care"): "granted"})
    return Recipient(1, **kwargs)


def _decide(recipient: Recipient, **kwargs) -> policy.Decision:
    kwargs.setdefault("purpose", "care")
    kwargs.setdefault("channels", ["sms"])
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("contact_kinds", KINDS)
    return decide(recipient, **kwargs)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("21:00-08:00", dt.time(21), dt.time(8)), ("22:30-6", dt.time(22, 30), dt.time(6))],
)
def test_parse_quiet_hours(text, start, end):
    assert policy.parse_quiet_hours(text) == policy.QuietHours(start, end)


@pytest.mark.parametrize("text", ["21-", "25:00-08:00", "evening", "21:00-08:00-09:00"])
def test_parse_quiet_hours_rejects(text):
    with pytest.raises(ConfigurationError):
        policy.parse_quiet_hours(text)


def test_quiet_hours_off():
    assert policy.parse_quiet_hours("off") is None
    assert policy.parse_frequency_cap("none") is None


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [("3/7d", 3, dt.timedelta(days=7)), ("2 / 24h", 2, dt.timedelta(hours=24))],
)
def test_parse_frequency_cap(text, count, period):
    assert policy.parse_frequency_cap(text) == policy.FrequencyCap(count, period)


@pytest.mark.parametrize("text", ["3", "3/7w", "x/7d"])
def test_parse_frequency_cap_rejects(text):
    with pytest.raises(ConfigurationError):
        policy.parse_frequency_cap(text)


def test_quiet_hours_across_midnight_defer_to_local_morning():
    quiet = policy.QuietHours(dt.time(21), dt.time(8))
    jakarta = ZoneInfo("Asia/Jakarta")
    late = dt.datetime(2026, 11, 23, 15, 30, tzinfo=dt.UTC)  # 22:30 local
    until = quiet.end_after(late, jakarta)
    assert until == dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)  # 08:00 local next day
    early = dt.datetime(2026, 11, 23, 0, 30, tzinfo=dt.UTC)  # 07:30 local
    assert quiet.end_after(early, jakarta) == dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)
    assert quiet.end_after(NOW, jakarta) is None


def test_quiet_hours_over_a_dst_change():
    quiet = policy.QuietHours(dt.time(1), dt.time(3))
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29: clocks jump from 02:00 to 03:00 local; 01:30 local is 00:30 UTC
    moment = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
    until = quiet.end_after(moment, berlin)
    assert until is not None and until > moment
    assert until.astimezone(berlin).hour == 3


def test_defer_in_quiet_hours_uses_the_patient_zone():
    quiet = policy.QuietHours(dt.time(21), dt.time(8))
    jakarta = _decide(_recipient(time_zone="Asia/Jakarta"), quiet_hours=quiet)
    assert jakarta.action == "send"
    la = _decide(_recipient(time_zone="America/Los_Angeles"), quiet_hours=quiet)  # 21:00 local
    assert la.action == "defer" and la.reason == "quiet_hours" and la.until > NOW
    clinic = _decide(_recipient(), quiet_hours=quiet, default_zone="America/New_York")  # 00:00
    assert clinic.action == "defer"


def test_inactive_patient_is_suppressed():
    assert _decide(_recipient(active=False)).reason == "patient_inactive"


def test_opt_out_and_missing_consent():
    withdrawn = _recipient(consents={("sms", "care"): "withdrawn"})
    assert _decide(withdrawn).reason == "no_channel:sms=opted_out"
    assert _decide(_recipient(consents={})).reason == "no_channel:sms=no_consent"
    marketing = _decide(_recipient(), purpose="marketing")
    assert marketing.action == "suppress"


def test_channel_fallback_records_every_refusal():
    recipient = _recipient(
        addresses={"email": "a@example.org"},
        consents={
            ("whatsapp", "care"): "granted",
            ("sms", "care"): "granted",
            ("email", "care"): "granted",
        },
    )
    decision = _decide(recipient, channels=["whatsapp", "sms", "email"])
    assert (decision.action, decision.channel, decision.address) == (
        "send",
        "email",
        "a@example.org",
    )
    none = _decide(recipient, channels=["whatsapp", "sms"])
    assert none.reason == "no_channel:whatsapp=no_address,sms=no_address"


def test_whatsapp_window_and_templates():
    consents = {("whatsapp", "care"): "granted"}
    outside = _recipient(consents=consents)
    assert _decide(outside, channels=["whatsapp"]).reason == "no_channel:whatsapp=whatsapp_window"
    approved = _decide(outside, channels=["whatsapp"], approved_template_channels={"whatsapp"})
    assert approved.action == "send" and approved.template_only
    assert approved.address == "+628111"  # WhatsApp falls back to the phone number
    inside = _recipient(consents=consents, last_inbound_whatsapp=NOW - dt.timedelta(hours=23))
    decision = _decide(inside, channels=["whatsapp"])
    assert decision.action == "send" and not decision.template_only
    expired = _recipient(consents=consents, last_inbound_whatsapp=NOW - dt.timedelta(hours=25))
    assert _decide(expired, channels=["whatsapp"]).action == "suppress"


def test_marketing_frequency_cap():
    cap = policy.FrequencyCap(2, dt.timedelta(days=7))
    consents = {("sms", "marketing"): "granted"}
    recent = (NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=2))
    capped = _recipient(consents=consents, recent_marketing=recent)
    assert _decide(capped, purpose="marketing", cap=cap).reason == "frequency_cap"
    old = _recipient(consents=consents, recent_marketing=(NOW - dt.timedelta(days=8),) * 5)
    assert _decide(old, purpose="marketing", cap=cap).action == "send"
    # care messages are not capped
    care = _recipient(recent_marketing=recent)
    assert _decide(care, cap=cap).action == "send"


def test_unavailable_channel():
    decision = _decide(_recipient(), contact_kinds={"email": "email"})
    assert decision.reason == "no_channel:sms=channel_unavailable"


def test_reason_labels_are_readable():
    assert "opted out" in policy.reason_label("opted_out")
    assert policy.reason_label("no_channel:sms=opted_out").endswith("(sms: the patient opted out)")
    assert policy.reason_label("something_else") == "something_else"
    assert policy.reason_label(None) == ""


def test_config_validates_messaging_settings():
    from core.config import Config

    with pytest.raises(ConfigurationError):
        Config.from_env({"CARELOOP_QUIET_HOURS": "late"})
    with pytest.raises(ConfigurationError):
        Config.from_env({"CARELOOP_CHANNEL_MODE": "loud"})
    with pytest.raises(ConfigurationError):
        Config.from_env({"CARELOOP_MARKETING_CAP": "lots"})
    config = Config.from_env({"CARELOOP_CHANNEL_ORDER": "sms,email", "CARELOOP_QUIET_HOURS": "off"})
    assert config.channel_order == ("sms", "email") and config.quiet_hours == "off"


@pytest.mark.parametrize(
    ("allowed", "preferred", "expected"),
    [
        (["whatsapp", "sms", "email"], ["email"], ["email", "whatsapp", "sms"]),
        (["whatsapp", "sms", "email"], ["sms", "whatsapp"], ["sms", "whatsapp", "email"]),
        (["sms"], ["email"], ["sms"]),  # a preference never adds a channel the message refuses
        (["sms", "email"], [], ["sms", "email"]),
        (["sms", "email", "sms"], ["email", "email"], ["email", "sms"]),
    ],
)
def test_channel_order_puts_the_patients_preference_first(allowed, preferred, expected):
    assert policy.channel_order(allowed, preferred) == expected


def test_patient_preference_decides_and_falls_back_in_the_message_order():
    both = {("sms", "care"): "granted", ("email", "care"): "granted"}
    prefers_email = _recipient(consents=both, preferred_channels=("email",))
    assert _decide(prefers_email, channels=["sms", "email"]).channel == "email"
    assert _decide(prefers_email, channels=["sms"]).channel == "sms"
    # the preferred channel is not possible (no consent): the message's own order goes on
    email_withdrawn = {**both, ("email", "care"): "withdrawn"}
    decision = _decide(
        _recipient(consents=email_withdrawn, preferred_channels=("email",)),
        channels=["whatsapp", "sms", "email"],
    )
    assert decision.channel == "sms"
