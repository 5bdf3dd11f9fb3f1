"""Secrets read through Powertools Parameters: on first use, then from a per-process cache.

Nothing secret lives in the template, samconfig.toml or the environment (decision 9): the
environment names the secret, and the function's role may read only that one. The provider is
built on first use with a client of our own (tally.storage.clients: fail-fast timeouts, endpoint
from the environment), so importing a function never pays for Secrets Manager.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from tally.errors import ServiceUnavailable, SettingsError
from tally.storage import clients
from tally.storage.errors import is_transient

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# A secret that changes is a deliberate operation followed by a deploy (which recycles the
# execution environments), so a long cache costs nothing and saves a call per invocation.
SECRET_MAX_AGE_SECONDS = 24 * 3600


class ParameterProvider(Protocol):
    """The part of Powertools' BaseProvider this module uses (fakes implement it in tests)."""

    def get(self, name: str, max_age: int | None = None) -> str | bytes | dict[str, object] | None: ...


@lru_cache(maxsize=1)
def secrets_provider() -> SecretsProvider:
    # Imported here: the parameters package loads every Powertools provider and boto3 (~30 ms),
    # which only a secret's first reader needs.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=clients.secrets_manager())


class SecretString:
    """A string secret fetched on first call, then served from the provider's cache."""

    def __init__(
        self,
        secret_id: str,
        variable: str,
        provider: Callable[[], ParameterProvider] = secrets_provider,
        max_age: int = SECRET_MAX_AGE_SECONDS,
    ) -> None:
        self._secret_id = secret_id
        self._variable = variable
        self._provider = provider
        self._max_age = max_age

    def __call__(self) -> str:
        if not self._secret_id:
            raise SettingsError(f"{self._variable} is not set: the function cannot read its secret")
        # Imported here for the same reason as the provider.
        from aws_lambda_powertools.utilities.parameters import GetParameterError

        try:
            value = self._provider().get(self._secret_id, max_age=self._max_age)
        except GetParameterError as exc:
            # Powertools wraps the SDK's error; a throttled or unreachable Secrets Manager is a
            # 503 the client retries, anything else (access denied, no such secret) a bug.
            cause = exc.__cause__ or exc.__context__
            if cause is not None and is_transient(cause):
                raise ServiceUnavailable() from exc
            raise
        if not isinstance(value, str) or not value:
            raise SettingsError(f"The secret named by {self._variable} must hold a non-empty SecretString")
        return value
