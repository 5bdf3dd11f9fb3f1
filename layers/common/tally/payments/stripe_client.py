"""The process's one `stripe.StripeClient`, made on first use.

The secret key comes from Secrets Manager (decision 9), never from the environment: the
environment names the secret (`STRIPE_SECRET_KEY_ARN`). `STRIPE_API_BASE` points the SDK at the
local Stripe sandbox (local/stripe); empty or unset, it talks to Stripe. `stripe` is imported
here, on first use, so a function that never calls Stripe never pays for the import (~130 ms).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from tally.parameters import SecretString

if TYPE_CHECKING:
    from stripe import StripeClient
    from stripe._base_address import BaseAddresses

# Inside an API request a slow Stripe becomes a 503 the client retries (with the same
# idempotency key, so nothing is made twice): two tries of 8 s stay inside API Gateway's 30 s.
TIMEOUT_SECONDS = 8
NETWORK_RETRIES = 1

secret_key = SecretString(os.environ.get("STRIPE_SECRET_KEY_ARN", ""), "STRIPE_SECRET_KEY_ARN")


@lru_cache(maxsize=1)
def stripe_client() -> StripeClient:
    import stripe

    base = os.environ.get("STRIPE_API_BASE", "").rstrip("/")
    addresses: BaseAddresses = {"api": base} if base else {}
    return stripe.StripeClient(
        secret_key(),
        base_addresses=addresses,
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )
