"""Checkout through Stripe, and the self-service routes of an account's subscription (issue 9)."""
