"""applier_from_environment builds the real adapters without calling anything: no AWS client,
no Stripe key read, until the first event needs them."""

from __future__ import annotations

import pytest

from tally.payments import stripe_client
from tally.payments.stripe_events.applier import StripeEventApplier
from tally.settings import get_settings


def test_the_applier_is_built_from_the_environment_without_calling_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLING_TABLE_NAME", "billing")
    monkeypatch.setenv("EVENTS_TABLE_NAME", "events")
    monkeypatch.setenv("APP_URL", "https://app.example")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Tally")
    get_settings.cache_clear()

    def no_key() -> None:
        raise AssertionError("the Stripe key was read at build time")

    monkeypatch.setattr(stripe_client, "secret_key", no_key)
    stripe_client.stripe_client.cache_clear()
    try:
        from tally.payments.stripe_events.wiring import applier_from_environment

        assert isinstance(applier_from_environment(), StripeEventApplier)
    finally:
        get_settings.cache_clear()
        stripe_client.stripe_client.cache_clear()
