"""The e-mail channel (official sendgrid client) against the fake SendGrid."""

from __future__ import annotations

import pytest

from core.config import Config
from core.errors import ConfigurationError
from core.messaging.channel import (
    Channel,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from plugins.email.channel import EmailChannel
from plugins.email.unsubscribe import read_token


@pytest.fixture
def config(fake_sendgrid) -> Config:
    return Config.from_env(
        {},
        sendgrid_host=fake_sendgrid.url,
        sendgrid_api_key=fake_sendgrid.api_key,
        email_from="clinic@example.org",
        public_url="https://crm.example.org",
        secret_key="k",
        channel_timeout=0.5,
    )


@pytest.fixture
def channel(config) -> EmailChannel:
    return EmailChannel(config)


def message(**overrides) -> OutgoingMessage:
    values = dict(
        message_id=5,
        idempotency_key="k-5",
        channel="email",
        to="ayu@example.com",
        purpose="care",
        locale="id",
        subject="Pengingat",
        body="Sampai jumpa besok.",
    )
    values.update(overrides)
    return OutgoingMessage(**values)


def test_channel_satisfies_the_core_contract(channel):
    assert isinstance(channel, Channel)
    assert (channel.name, channel.contact_kind, channel.provider_deduplicates) == (
        "email",
        "email",
        False,
    )


def test_care_mail_carries_our_id_and_no_unsubscribe_headers(channel, fake_sendgrid):
    result = channel.send(message())
    sent = fake_sendgrid.accepted[-1]
    assert result.provider_message_id == sent["x_message_id"]
    assert sent["custom_args"] == {"careloop_message_id": "5"}
    assert sent["personalizations"][0]["to"][0]["email"] == "ayu@example.com"
    assert "headers" not in sent
    assert fake_sendgrid.requests[-1].headers["authorization"] == "Bearer SG.test-key"


def test_marketing_mail_has_one_click_unsubscribe_headers(channel, config, fake_sendgrid):
    channel.send(message(purpose="marketing", message_id=77))
    headers = fake_sendgrid.accepted[-1]["headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://crm.example.org/unsubscribe/")
    assert read_token(config, url.rsplit("/", 1)[1]) == 77


def test_a_given_unsubscribe_url_is_used(channel, fake_sendgrid):
    channel.send(message(purpose="marketing", unsubscribe_url="https://x.example/u/1"))
    assert fake_sendgrid.accepted[-1]["headers"]["List-Unsubscribe"] == "<https://x.example/u/1>"


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda f: f.fail(status=500), TransientChannelError),
        (lambda f: f.fail(status=503), TransientChannelError),
        (lambda f: f.rate_limit(), TransientChannelError),
        (lambda f: f.timeout(seconds=1.5), TransientChannelError),
        (lambda f: f.invalid_addresses.add("ayu@example.com"), PermanentChannelError),
        (lambda f: f.fail(status=401), PermanentChannelError),
    ],
    ids=["500", "503", "429", "timeout", "invalid-address", "401"],
)
def test_failures_are_classified(channel, fake_sendgrid, setup, error):
    setup(fake_sendgrid)
    with pytest.raises(error):
        channel.send(message())
    assert fake_sendgrid.accepted == []


def test_unreachable_host_is_transient(config):
    down = EmailChannel(config.with_overrides(sendgrid_host="http://127.0.0.1:9"))
    with pytest.raises(TransientChannelError):
        down.send(message())


def test_marketing_without_public_url_is_a_configuration_error(config, fake_sendgrid):
    channel = EmailChannel(config.with_overrides(public_url=""))
    with pytest.raises(ConfigurationError):
        channel.send(message(purpose="marketing"))
    assert fake_sendgrid.requests == []
