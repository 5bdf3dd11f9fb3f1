"""What the webhook worker applies events with: one `EventApplier` per provider.

`applier_for` is the one place the worker gets an applier from, so tests give it a fake
(`set_appliers`) and each provider's applier is built, on first use, from its own wiring module
(Stripe: tally.payments.stripe_events.wiring). None of this is imported by the route.
"""

from __future__ import annotations

from collections.abc import Callable

from tally.payments.events import EventApplier, Provider


def _stripe() -> EventApplier:
    from tally.payments.stripe_events.wiring import applier_from_environment

    return applier_from_environment()


BUILDERS: dict[Provider, Callable[[], EventApplier]] = {"stripe": _stripe}
_built: dict[Provider, EventApplier] = {}


def applier_for(provider: Provider) -> EventApplier:
    """The provider's applier, built once per process; LookupError for a provider with none."""
    if provider not in _built:
        builder = BUILDERS.get(provider)
        if builder is None:
            raise LookupError(f"No event applier for provider {provider!r}")
        _built[provider] = builder()
    return _built[provider]


def set_appliers(appliers: dict[Provider, EventApplier] | None) -> None:
    """Use these appliers (tests); None forgets them, so the next use builds the real ones."""
    _built.clear()
    _built.update(appliers or {})
