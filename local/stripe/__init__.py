"""The local Stripe sandbox (see local/README.md, "The local Stripe", and `local.stripe.sandbox`)."""

from local.stripe.sandbox import DEFAULT_PORT, StripeSandbox, new_secret_key, new_webhook_secret

__all__ = ["DEFAULT_PORT", "StripeSandbox", "new_secret_key", "new_webhook_secret"]
