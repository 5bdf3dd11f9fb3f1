"""Email templates overridden from an S3 prefix: the override wins, the packaged template is the
fallback, a warm container re-reads after the TTL, and S3 trouble never stops an email."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tally.notifications import render as render_module
from tally.notifications.overrides import S3OverrideLoader
from tally.notifications.render import build_environment, packaged_loader, render_with

SUBJECT = "welcome.en.subject"


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], str] = {}
        self.reads: list[str] = []
        self.error: Exception | None = None

    def get_object(self, *, Bucket: str, Key: str) -> Mapping[str, Any]:  # noqa: N803 - boto3's names
        self.reads.append(Key)
        if self.error is not None:
            raise self.error
        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "x"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)].encode())}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[FakeS3, Clock, Any]:
    s3, clock = FakeS3(), Clock()
    loader = S3OverrideLoader(s3, "bucket", "email-templates", packaged_loader(), ttl_seconds=60, clock=clock)
    return s3, clock, build_environment(loader)


def welcome(env: Any) -> str:
    return render_with(
        env, "welcome", "en", to="a@example.com", account_name="Acme", app_url="https://x"
    ).subject


def test_without_an_override_the_packaged_template_is_used_and_the_absence_cached() -> None:
    s3, _, env = setup()

    assert welcome(env) == "Welcome to Tally, Acme"
    assert welcome(env) == "Welcome to Tally, Acme"
    assert s3.reads.count(f"email-templates/{SUBJECT}") == 1


def test_an_override_wins_and_an_edit_shows_after_the_ttl() -> None:
    s3, clock, env = setup()
    s3.objects[("bucket", f"email-templates/{SUBJECT}")] = "Bienvenue chez nous, {{ account_name }}"

    assert welcome(env) == "Bienvenue chez nous, Acme"

    s3.objects[("bucket", f"email-templates/{SUBJECT}")] = "Hi {{ account_name }}"
    clock.now += 30
    assert welcome(env) == "Bienvenue chez nous, Acme"  # still within the TTL: no read
    clock.now += 31
    assert welcome(env) == "Hi Acme"
    assert s3.reads.count(f"email-templates/{SUBJECT}") == 2


def test_an_override_added_later_is_picked_up_after_the_ttl() -> None:
    s3, clock, env = setup()
    assert welcome(env) == "Welcome to Tally, Acme"

    s3.objects[("bucket", f"email-templates/{SUBJECT}")] = "New {{ account_name }}"
    clock.now += 61
    assert welcome(env) == "New Acme"


def test_the_shared_layout_can_be_overridden_too() -> None:
    s3, _, env = setup()
    s3.objects[("bucket", "email-templates/_layout.txt")] = (
        "{% block content %}{% endblock %}\n-- Custom footer"
    )

    email = render_with(env, "welcome", "en", to="a@example.com", account_name="Acme", app_url="https://x")

    assert email.text.rstrip().endswith("-- Custom footer")


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "AccessDenied", "Message": "x"}}, "GetObject"),
        ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "GetObject"),
        EndpointConnectionError(endpoint_url="https://s3.example"),
    ],
)
def test_s3_trouble_falls_back_to_the_packaged_template(error: Exception) -> None:
    s3, _, env = setup()
    s3.error = error

    assert welcome(env) == "Welcome to Tally, Acme"


def test_the_process_environment_uses_overrides_only_when_a_prefix_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EMAIL_TEMPLATES_PREFIX", raising=False)
    monkeypatch.setenv("DOCUMENTS_BUCKET_NAME", "docs")
    assert not isinstance(render_module.configured_loader(), S3OverrideLoader)

    monkeypatch.setenv("EMAIL_TEMPLATES_PREFIX", "email-templates/")
    assert isinstance(render_module.configured_loader(), S3OverrideLoader)
