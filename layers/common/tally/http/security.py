"""The OpenAPI security requirements routes declare, matching the template's authorizers.

`BEARER`: the HttpApi's default Cognito JWT authorizer (a user's id token). `BEARER_OR_KEY`: the
routes whose event names `KeyOrTokenAuthorizer` (an id token or an API key, tally_sk_…), whose
401/403 answers `KEY_ROUTE` words.
"""

from __future__ import annotations

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
BEARER_OR_KEY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
KEY_ROUTE = {
    401: "No Authorization header; or, in words, an API key unknown or revoked, or an expired id token",
    403: "An API key without the route's scope (named) or of another account; a user without access",
}
