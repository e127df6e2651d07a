"""The SMS channel (smsapi-client) against the fake SMSAPI."""

from __future__ import annotations

import pytest

from core.config import Config
from core.messaging.channel import (
    Channel,
    DuplicateSendRefused,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from plugins.sms.channel import SmsChannel, message_id_of_idx


@pytest.fixture
def channel(fake_smsapi) -> SmsChannel:
    config = Config.from_env(
        {},
        smsapi_url=fake_smsapi.url,  # no trailing slash: the channel adds it
        smsapi_token=fake_smsapi.token,
        smsapi_callback_secret="s3cret",
        public_url="https://crm.example.org/",
        sms_sender="Klinik",
        channel_timeout=0.5,
    )
    return SmsChannel(config)


def message(message_id: int = 7, **overrides) -> OutgoingMessage:
    values = dict(
        message_id=message_id,
        idempotency_key=f"k-{message_id}",
        channel="sms",
        to="+6281234567890",
        purpose="care",
        locale="id",
        body="Pengingat: besok jam 09:00",
    )
    values.update(overrides)
    return OutgoingMessage(**values)


def test_channel_satisfies_the_core_contract(channel):
    assert isinstance(channel, Channel)
    assert (channel.name, channel.contact_kind, channel.provider_deduplicates) == (
        "sms",
        "phone",
        True,
    )


def test_send_passes_idx_check_idx_and_notify_url(channel, fake_smsapi):
    result = channel.send(message())
    form = fake_smsapi.accepted[-1]
    assert result.provider_message_id == form["id"]
    assert form["to"] == "6281234567890" and form["message"].startswith("Pengingat")
    assert form["idx"].startswith("7k") and form["idx"].isalnum()
    assert message_id_of_idx(form["idx"]) == 7
    assert (form["check_idx"], form["from"]) == ("1", "Klinik")
    assert form["notify_url"] == "https://crm.example.org/webhooks/smsapi/s3cret"
    assert fake_smsapi.requests[-1].headers["authorization"] == "Bearer test-smsapi-token"


def test_a_repeated_idx_is_refused_as_a_duplicate(channel, fake_smsapi):
    channel.send(message(9))
    with pytest.raises(DuplicateSendRefused):
        channel.send(message(9))
    assert len(fake_smsapi.accepted) == 1


def test_timeout_after_acceptance_then_retry_is_refused_not_duplicated(channel, fake_smsapi):
    fake_smsapi.timeout(seconds=1.0, accept=True)
    with pytest.raises(TransientChannelError):
        channel.send(message(11))
    with pytest.raises(DuplicateSendRefused):
        channel.send(message(11))
    assert len(fake_smsapi.accepted) == 1


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda f: f.fail(status=500), TransientChannelError),
        (lambda f: f.fail(status=502), TransientChannelError),
        (lambda f: f.rate_limit(), TransientChannelError),
        (lambda f: f.timeout(seconds=1.0), TransientChannelError),
        (lambda f: f.invalid_numbers.add("6281234567890"), PermanentChannelError),
        (lambda f: f.fail(status=400), PermanentChannelError),
    ],
    ids=["500", "502", "429", "timeout", "invalid-number", "400"],
)
def test_failures_are_classified(channel, fake_smsapi, setup, error):
    setup(fake_smsapi)
    with pytest.raises(error):
        channel.send(message())
    assert fake_smsapi.accepted == []


def test_an_unreachable_provider_is_transient(fake_smsapi):
    config = Config.from_env({}, smsapi_url="http://127.0.0.1:9/", smsapi_token="t")
    with pytest.raises(TransientChannelError):
        SmsChannel(config).send(message())


def test_empty_body_is_refused_before_any_call(channel, fake_smsapi):
    with pytest.raises(PermanentChannelError):
        channel.send(message(body=None))
    assert fake_smsapi.requests == []


def test_the_same_row_id_with_another_key_is_not_a_duplicate(channel, fake_smsapi):
    """A reset database reuses row ids; the key digest keeps their idx apart."""
    channel.send(message(3, idempotency_key="first-life"))
    channel.send(message(3, idempotency_key="second-life"))
    assert len(fake_smsapi.accepted) == 2
