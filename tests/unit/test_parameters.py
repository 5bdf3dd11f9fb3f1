"""Secrets through Powertools Parameters: read on first use, cached, failures classified."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters import BaseProvider, GetParameterError
from botocore.exceptions import ClientError

from tally import clock
from tally.errors import ServiceUnavailable
from tally.parameters import SECRET_MAX_AGE_SECONDS, SecretString
from tally.settings import SettingsError
from tally.tracking.domain import Visit
from tally.tracking.models import ClickIn, ViewIn
from tally.tracking.service import TrackingPolicy
from tests.support.tracking import TrackingWorld

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:salt-AbCdEf"


class FakeSecrets(BaseProvider):
    """Powertools' own caching over an in-memory store, counting the reads that reach it."""

    def __init__(self, values: dict[str, str | bytes], error: Exception | None = None) -> None:
        super().__init__(client=None)  # type: ignore[no-untyped-call]
        self.values = values
        self.error = error
        self.fetches = 0

    def _get(self, name: str, **sdk_options: object) -> str | bytes:
        self.fetches += 1
        if self.error is not None:
            raise self.error
        return self.values[name]

    def _get_multiple(self, path: str, **sdk_options: object) -> dict[str, str]:
        raise NotImplementedError


def _client_error(code: str, status: int) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetSecretValue")  # type: ignore[arg-type]


def test_secret_is_read_once_then_cached() -> None:
    provider = FakeSecrets({ARN: "s3cr3t"})
    secret = SecretString(ARN, "VISITOR_SALT_SECRET_ARN", provider=lambda: provider)
    assert provider.fetches == 0  # nothing is read before the first call
    assert secret() == "s3cr3t"
    assert secret() == "s3cr3t"
    assert provider.fetches == 1
    assert SECRET_MAX_AGE_SECONDS >= 3600


def test_throttled_secrets_manager_is_a_retryable_503() -> None:
    provider = FakeSecrets({}, error=_client_error("ThrottlingException", 400))
    secret = SecretString(ARN, "VISITOR_SALT_SECRET_ARN", provider=lambda: provider)
    with pytest.raises(ServiceUnavailable):
        secret()


def test_access_denied_is_not_hidden_as_a_503() -> None:
    provider = FakeSecrets({}, error=_client_error("AccessDeniedException", 400))
    secret = SecretString(ARN, "VISITOR_SALT_SECRET_ARN", provider=lambda: provider)
    with pytest.raises(GetParameterError):
        secret()


@pytest.mark.parametrize("value", ["", b"binary"])
def test_secret_must_be_a_non_empty_string(value: str | bytes) -> None:
    secret = SecretString(ARN, "VISITOR_SALT_SECRET_ARN", provider=lambda: FakeSecrets({ARN: value}))
    with pytest.raises(SettingsError, match="VISITOR_SALT_SECRET_ARN"):
        secret()


def test_unset_secret_is_a_deployment_error() -> None:
    provider = FakeSecrets({})
    with pytest.raises(SettingsError, match="VISITOR_SALT_SECRET_ARN is not set"):
        SecretString("", "VISITOR_SALT_SECRET_ARN", provider=lambda: provider)()
    assert provider.fetches == 0


def test_tracking_reads_the_salt_only_for_counted_events() -> None:
    """Bots, stats and cold starts never wait for Secrets Manager; the first counted event does, once."""
    clock.set_clock(clock.FixedClock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC)))
    try:
        provider = FakeSecrets({ARN: "salt"})
        world = TrackingWorld(
            policy=TrackingPolicy(visitor_salt=SecretString(ARN, "VISITOR_SALT_SECRET_ARN", lambda: provider))
        )
        service = world.service
        bot = Visit(source_ip="66.249.66.1", user_agent="Googlebot/2.1")
        browser = Visit(source_ip="198.51.100.23", user_agent="Mozilla/5.0 Firefox/128.0")
        service.track("view", ViewIn(account_id="acc_1", source="city"), bot)
        service.stats("acc_1", 7)
        assert provider.fetches == 0
        first = service.track("click", ClickIn(account_id="acc_1", source="seo", page_url="/a"), browser)
        again = service.track("click", ClickIn(account_id="acc_1", source="seo", page_url="/a"), browser)
        assert (first.counted, again.reason) == (True, "duplicate")
        assert provider.fetches == 1
    finally:
        clock.set_clock(None)


def test_salt_changes_the_fingerprint() -> None:
    """The dedup key depends on the salt: without it, a stored key cannot be recomputed from an IP."""
    keys = []
    for salt in ("one", "two"):
        world = TrackingWorld(policy=TrackingPolicy(visitor_salt=salt))
        world.service.track(
            "click",
            ClickIn(account_id="acc_1", source="seo", page_url="/a"),
            Visit(source_ip="198.51.100.23", user_agent="Mozilla/5.0"),
        )
        keys.append(set(world.ledger.claims))
    assert keys[0]
    assert keys[0] != keys[1]


def test_importing_the_tracking_function_loads_no_parameters_code() -> None:
    """Cold start: Powertools Parameters and the Secrets Manager client wait for the first counted event."""
    probe = (
        "import sys, tracking.app\n"
        "loaded = [m for m in sys.modules if m.startswith('aws_lambda_powertools.utilities.parameters')]\n"
        "print(','.join(loaded))\n"
    )
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(str(root / part) for part in ("layers/common", "functions"))
    child = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert child.stdout.strip() == ""
