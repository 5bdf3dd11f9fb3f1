"""Stripe's webhook events applied to the billing domain (issue 9): `StripeEventApplier`.

from tally.payments.stripe_events.wiring import applier_from_environment
applied = applier_from_environment().apply(event)   # a tally.payments.events.ProviderEvent
"""
