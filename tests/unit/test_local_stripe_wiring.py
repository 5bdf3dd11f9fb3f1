"""How the local stack wires in the local Stripe, without starting the stack: its port setting, the
sandbox it starts (key, webhook secret, clock, where events go), the StripeApiBase parameter and
the secrets it writes (only those the template declares)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from local.__main__ import parse_args
from local.gateway import GatewayServer
from local.resources import PhysicalResource
from local.stack import LocalStack
from local.stripe import DEFAULT_PORT


def test_the_port_comes_from_the_flag_or_stripe_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_PORT", raising=False)
    assert parse_args([]).stripe_port == DEFAULT_PORT == 12111
    assert parse_args(["--stripe-port", "0"]).stripe_port == 0
    monkeypatch.setenv("STRIPE_PORT", "12999")
    assert parse_args([]).stripe_port == 12999


class FakeSecrets:
    def __init__(self) -> None:
        self.written: dict[str, str] = {}

    def put_secret_value(self, *, SecretId: str, SecretString: str) -> None:  # noqa: N803 - boto3's names
        self.written[SecretId] = SecretString


class FakeRegistry:
    def __init__(self, physical: dict[str, PhysicalResource]) -> None:
        self.physical = physical
        self.secrets = FakeSecrets()

    def client(self, service: str) -> Any:
        assert service == "secretsmanager"
        return self.secrets


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    stack = LocalStack(port=0, stripe_port=0)
    stack._server = GatewayServer("127.0.0.1", 0)  # the gateway's address, as _start makes it first
    stack.stripe = stack._start_stripe()
    try:
        yield stack
    finally:
        stack.stripe.stop()
        stack._server.server_close()


def test_the_sandbox_follows_the_stacks_clock_and_sends_events_to_the_webhook_route(
    stack: LocalStack,
) -> None:
    sandbox = stack.stripe
    assert sandbox is not None
    assert sandbox.webhook_url == f"{stack.base_url}/v1/webhooks/stripe"
    assert sandbox.secret_key is not None
    assert sandbox.secret_key.startswith("sk_test_local_")
    assert sandbox.webhook_secret.startswith("whsec_")
    stack.clock.set(datetime(2031, 1, 1, tzinfo=UTC))
    assert abs(sandbox.billing.time(None) - datetime(2031, 1, 1, tzinfo=UTC).timestamp()) < 60
    line = stack.stripe_line()
    assert line is not None
    assert sandbox.base_url in line
    assert stack.resources()["stripe"]["api_base"] == sandbox.base_url


def test_the_api_base_is_passed_only_to_a_template_that_takes_it(stack: LocalStack) -> None:
    assert stack.stripe is not None
    assert stack.template_parameters({"StripeApiBase": {"Default": ""}}) == {
        "StripeApiBase": stack.stripe.base_url
    }
    assert stack.template_parameters({"Other": {}}) == {}
    stack.parameters = {"StripeApiBase": "https://api.stripe.com"}  # an explicit value wins
    assert stack.template_parameters({"StripeApiBase": {}}) == {"StripeApiBase": "https://api.stripe.com"}


def test_the_secrets_are_written_when_the_template_declares_them(stack: LocalStack) -> None:
    assert stack.stripe is not None
    secret = "AWS::SecretsManager::Secret"
    registry = FakeRegistry(
        {
            "StripeSecretKeySecret": PhysicalResource(
                "StripeSecretKeySecret", secret, "arn:key", created=True
            ),
            "StripeWebhookSecretsSecret": PhysicalResource(
                "StripeWebhookSecretsSecret", secret, "arn:whsec", created=True
            ),
        }
    )
    stack._write_stripe_secrets(registry, stack.stripe)  # type: ignore[arg-type]
    assert registry.secrets.written == {
        "arn:key": stack.stripe.secret_key,
        "arn:whsec": stack.stripe.webhook_secret,
    }

    none = FakeRegistry({})
    stack._write_stripe_secrets(none, stack.stripe)  # type: ignore[arg-type]
    assert none.secrets.written == {}
