"""Stripe's events applied to Tally's state (the webhook worker's `EventApplier` for Stripe)."""
