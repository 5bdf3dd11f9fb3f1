"""PLACEHOLDER, replaced by the stripe-apply branch (issue 9): the Stripe `EventApplier` the
webhook worker uses, built from the environment.

Until that branch lands, every Stripe event is recorded in the ledger and answered
`Applied("ignored", …)`: nothing is mirrored. The worker gets its applier only through
`applier_from_environment()` (functions/webhooks/wiring.py), so replacing this module is the
whole change on the worker's side.
"""

from __future__ import annotations

from tally.payments.events import Applied, EventApplier, ProviderEvent


class IgnoringApplier:
    """Answers every event as ignored (placeholder; see the module's docstring)."""

    def apply(self, event: ProviderEvent) -> Applied:
        return Applied("ignored", f"{event.type}: no Stripe applier yet")


def applier_from_environment() -> EventApplier:
    return IgnoringApplier()
