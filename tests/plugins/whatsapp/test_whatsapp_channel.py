"""The WhatsApp channel against the fake Cloud API: success and every failure class."""

from __future__ import annotations

import pytest

from core.config import Config
from core.messaging.channel import (
    Channel,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from plugins.whatsapp.client import WhatsAppChannel


@pytest.fixture
def channel(fake_whatsapp) -> WhatsAppChannel:
    config = Config.from_env(
        {},
        whatsapp_api_url=fake_whatsapp.url + "/v21.0",
        whatsapp_token=fake_whatsapp.token,
        whatsapp_phone_number_id=fake_whatsapp.phone_number_id,
        channel_timeout=0.5,
    )
    return WhatsAppChannel(config)


def message(**overrides) -> OutgoingMessage:
    values = dict(
        message_id=42,
        idempotency_key="k-42",
        channel="whatsapp",
        to="+6281234567890",
        purpose="care",
        locale="id",
        body="Halo",
    )
    values.update(overrides)
    return OutgoingMessage(**values)


def test_channel_satisfies_the_core_contract(channel):
    assert isinstance(channel, Channel)
    assert (channel.name, channel.contact_kind, channel.provider_deduplicates) == (
        "whatsapp",
        "whatsapp",
        False,
    )


def test_text_message_carries_our_id_as_callback_data(channel, fake_whatsapp):
    result = channel.send(message())
    sent = fake_whatsapp.accepted[-1]
    assert result.provider_message_id == sent["wamid"]
    assert sent["to"] == "6281234567890" and sent["type"] == "text"
    assert sent["text"]["body"] == "Halo"
    assert sent["biz_opaque_callback_data"] == "42"
    request = fake_whatsapp.requests[-1]
    assert request.path == "/v21.0/1122334455667/messages"
    assert request.headers["authorization"] == "Bearer test-wa-token"


def test_template_message_with_parameters(channel, fake_whatsapp):
    channel.send(
        message(
            body=None,
            template_name="appointment_reminder",
            template_language="id",
            template_params=["Ayu", "Senin 09:00"],
        )
    )
    template = fake_whatsapp.accepted[-1]["template"]
    assert template["name"] == "appointment_reminder"
    assert template["language"] == {"code": "id"}
    params = template["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Ayu", "Senin 09:00"]


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda f: f.fail(status=500), TransientChannelError),
        (lambda f: f.fail(status=503), TransientChannelError),
        (lambda f: f.rate_limit(), TransientChannelError),
        (lambda f: f.timeout(seconds=1.5), TransientChannelError),
        (lambda f: f.invalid_numbers.add("6281234567890"), PermanentChannelError),
        (lambda f: f.fail(status=400), PermanentChannelError),
    ],
    ids=["500", "503", "429", "timeout", "invalid-number", "400"],
)
def test_failures_are_classified(channel, fake_whatsapp, setup, error):
    setup(fake_whatsapp)
    with pytest.raises(error):
        channel.send(message())
    assert fake_whatsapp.accepted == []


def test_unknown_template_is_permanent(channel, fake_whatsapp):
    with pytest.raises(PermanentChannelError, match="132001"):
        channel.send(message(body=None, template_name="no_such_template"))


def test_a_message_without_body_or_template_is_refused_before_any_call(channel, fake_whatsapp):
    with pytest.raises(PermanentChannelError):
        channel.send(message(body=None))
    assert fake_whatsapp.requests == []


def test_missing_settings_are_a_configuration_error():
    from core.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        WhatsAppChannel(Config.from_env({})).send(message())
