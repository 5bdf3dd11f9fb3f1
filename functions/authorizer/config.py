"""The authorizer's settings, read from the environment once per process.

A dataclass rather than tally.settings' pydantic model: a Cognito token's check imports neither
pydantic nor botocore, and the authorizer's cold start sits in front of its routes' requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class AuthorizerMisconfigured(RuntimeError):
    """A variable the template sets is missing: a deployment error, never a request's."""


@dataclass(frozen=True)
class AuthorizerConfig:
    billing_table: str
    pepper_secret_arn: str
    user_pool_id: str
    client_id: str
    region: str
    # The local stack's (or a test's) Cognito endpoint; None in AWS.
    cognito_endpoint: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AuthorizerConfig:
        # Lambda sets AWS_REGION; AWS_DEFAULT_REGION is what the SDK falls back on elsewhere.
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or ""
        missing = [
            name
            for name in ("BILLING_TABLE_NAME", "USER_POOL_ID", "USER_POOL_CLIENT_ID")
            if not environ.get(name)
        ]
        if not region:
            missing.append("AWS_REGION")
        if missing:
            raise AuthorizerMisconfigured(f"The authorizer needs {', '.join(missing)} in its environment")
        endpoint = environ.get("AWS_ENDPOINT_URL_COGNITO_IDP") or environ.get("AWS_ENDPOINT_URL")
        return cls(
            billing_table=environ["BILLING_TABLE_NAME"],
            pepper_secret_arn=environ.get("API_KEY_PEPPER_SECRET_ARN", ""),
            user_pool_id=environ["USER_POOL_ID"],
            client_id=environ["USER_POOL_CLIENT_ID"],
            region=region,
            cognito_endpoint=endpoint or None,
        )

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens (moto issues the same one locally)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        """The pool's signing keys: the issuer's, or locally moto's `<endpoint>/<pool id>/...`."""
        base = (
            f"{self.cognito_endpoint.rstrip('/')}/{self.user_pool_id}"
            if self.cognito_endpoint
            else self.issuer
        )
        return f"{base}/.well-known/jwks.json"
