"""template.yaml's protections: throttles, reserved concurrency, alarms, suppressions with reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.intrinsics import Pseudo, Resolver, parameter_values
from local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = (
    "TrackingFunction",
    "TrackingCounterFunction",
    "AccountsFunction",
    "AuthFunction",
    "DocsFunction",
    "AuthorizerFunction",
    "UsageFunction",  # issue 7, usage half
    "BillingFunction",
    "CheckoutFunction",  # issue 9
    "JobsPlannerFunction",  # issue 10
    "JobsWorkerFunction",
    "JobsFunction",
    "WebhooksFunction",  # issue 9
    "WebhookWorkerFunction",
)
# The public sign-in routes and the parameters of their throttles (rate, burst).
SIGN_IN_THROTTLES = {
    "POST /v1/auth/login": "Login",
    "POST /v1/auth/login/mfa": "LoginMfa",
    "POST /v1/auth/register": "Register",
    "POST /v1/auth/confirm": "Confirm",
    "POST /v1/auth/resend-code": "ResendCode",
    "POST /v1/auth/password-reset": "PasswordReset",
    "POST /v1/auth/password-reset/confirm": "PasswordResetConfirm",
    "POST /v1/auth/refresh": "Refresh",
}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def _resolver(template: Template, **overrides: str) -> Resolver:
    def lookup(logical_id: str, attribute: str | None) -> str:
        return f"{logical_id}.{attribute}" if attribute else logical_id

    return Resolver(template, Pseudo(region="eu-west-1"), parameter_values(template, overrides), lookup)


def _route_settings(template: Template) -> dict[str, Any]:
    return dict(template.resources["HttpApi"].properties["RouteSettings"])


def test_public_routes_have_their_own_throttles(template: Template) -> None:
    settings = _route_settings(template)
    assert settings["POST /v1/track/events"]["ThrottlingRateLimit"] == {"Ref": "TrackingBatchRateLimit"}
    assert settings["POST /v1/track/events"]["ThrottlingBurstLimit"] == {"Ref": "TrackingBatchBurstLimit"}
    login = settings["POST /v1/auth/login"]
    assert login["ThrottlingRateLimit"] == {"Ref": "LoginRateLimit"}
    assert login["ThrottlingBurstLimit"] == {"Ref": "LoginBurstLimit"}
    assert login["DetailedMetricsEnabled"] is True
    default: dict[str, Any] = {name: spec.get("Default") for name, spec in template.parameters.items()}
    # A batch carries up to 100 events: its request rate is well below the single routes'.
    assert int(default["TrackingBatchRateLimit"]) * 5 <= int(default["TrackingRateLimit"])
    assert int(default["LoginRateLimit"]) <= 20


@pytest.mark.parametrize(("value", "reserved"), [("", None), ("0", None), ("150", "150")])
def test_reserved_concurrency_is_optional(template: Template, value: str, reserved: str | None) -> None:
    function = template.resources["TrackingFunction"]
    resolved = _resolver(template, TrackingReservedConcurrency=value).resolve(function.properties)
    assert resolved.get("ReservedConcurrentExecutions") == reserved


@pytest.mark.parametrize(("email", "subscribed"), [("", False), ("ops@example.com", True)])
def test_alarm_email_subscription_is_optional(template: Template, email: str, subscribed: bool) -> None:
    subscription = template.resources["AlarmEmailSubscription"]
    assert subscription.properties["TopicArn"] == {"Ref": "AlarmTopic"}
    assert _resolver(template, AlarmEmail=email).is_enabled(subscription.condition) is subscribed


def _alarms(template: Template) -> list[dict[str, Any]]:
    return [r.properties for r in template.of_type("AWS::CloudWatch::Alarm")]


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}


def test_every_function_has_error_and_throttle_alarms(template: Template) -> None:
    watched = {
        (alarm["MetricName"], _dimensions(alarm)["FunctionName"]["Ref"])
        for alarm in _alarms(template)
        if alarm.get("Namespace") == "AWS/Lambda" and alarm["MetricName"] in {"Errors", "Throttles"}
    }
    assert watched == {(metric, function) for metric in ("Errors", "Throttles") for function in FUNCTIONS}


def test_stream_table_and_login_alarms(template: Template) -> None:
    alarms = _alarms(template)
    iterator = [a for a in alarms if a.get("MetricName") == "IteratorAge"]
    assert [_dimensions(a)["FunctionName"] for a in iterator] == [{"Ref": "TrackingCounterFunction"}]
    tables = set()
    for alarm in alarms:
        for metric in alarm.get("Metrics") or []:
            stat = metric.get("MetricStat")
            if stat and stat["Metric"]["MetricName"] in {"ReadThrottleEvents", "WriteThrottleEvents"}:
                tables.add(stat["Metric"]["Dimensions"][0]["Value"]["Ref"])
    assert tables == {"BillingTable", "EventsTable"}
    login = [a for a in alarms if a.get("MetricName") == "4xx"]
    assert len(login) == 1
    assert _dimensions(login[0]) == {
        "ApiId": {"Ref": "HttpApi"},
        "Stage": "$default",
        "Method": "POST",
        "Resource": "/v1/auth/login",
    }
    assert login[0]["Threshold"] == {"Ref": "LoginFailureAlarmThreshold"}
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_webhook_queue_retries_then_dead_letters_with_an_alarm(template: Template) -> None:
    """Issue 9: a failed event is retried (visibility timeout >= 6x the worker's timeout), then
    dead-lettered after 5 receives, and the dead-letter queue alarms as soon as it holds one."""
    queue = template.resources["WebhookQueue"].properties
    worker = template.resources["WebhookWorkerFunction"].properties
    assert queue["SqsManagedSseEnabled"] is True
    assert template.resources["WebhookDeadLetterQueue"].properties["SqsManagedSseEnabled"] is True
    assert int(queue["VisibilityTimeout"]) >= 6 * int(worker["Timeout"])
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    [source] = worker["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["WebhookQueue", "Arn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    [alarm] = [
        a
        for a in _alarms(template)
        if a.get("Namespace") == "AWS/SQS"
        and _dimensions(a)["QueueName"] == {"Fn::GetAtt": ["WebhookDeadLetterQueue", "QueueName"]}
    ]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    route = _route_settings(template)["POST /v1/webhooks/stripe"]
    assert route["ThrottlingRateLimit"] == {"Ref": "WebhookRateLimit"}


def test_every_suppression_gives_its_reason(template: Template) -> None:
    """checkov skips carry a comment; cfn-lint ignores sit under a comment in the YAML."""
    lines = (ROOT / "template.yaml").read_text().splitlines()
    for logical_id, body in template.document["Resources"].items():
        metadata = body.get("Metadata") or {}
        for skip in (metadata.get("checkov") or {}).get("skip") or []:
            assert skip.get("id"), f"{logical_id}: {skip}"
            assert len(str(skip.get("comment") or "")) > 40, f"{logical_id}: {skip}"
    for index, line in enumerate(lines):
        if line.strip() == "ignore_checks:":
            reason = lines[index + 1].strip()
            assert reason.startswith("#"), f"line {index + 2}: no reason"
            assert len(reason) > 20, f"line {index + 2}: no reason"


def test_each_sign_in_route_has_its_own_low_throttle(template: Template) -> None:
    settings = _route_settings(template)
    auth = template.resources["AuthFunction"].properties["Events"]
    public = {
        f"{event['Properties']['Method']} {event['Properties']['Path']}"
        for event in auth.values()
        if event["Properties"].get("Auth") == {"Authorizer": "NONE"}
    }
    assert public == set(SIGN_IN_THROTTLES)
    for route, prefix in SIGN_IN_THROTTLES.items():
        assert settings[route]["ThrottlingRateLimit"] == {"Ref": f"{prefix}RateLimit"}, route
        assert settings[route]["ThrottlingBurstLimit"] == {"Ref": f"{prefix}BurstLimit"}, route
        rate = int(template.parameters[f"{prefix}RateLimit"]["Default"])
        burst = int(template.parameters[f"{prefix}BurstLimit"]["Default"])
        assert rate <= 20, route
        assert rate <= burst <= 2 * rate + 1, route


def test_the_user_pool_lets_users_sign_up_and_keeps_existence_private(template: Template) -> None:
    pool = template.resources["UserPool"].properties
    client = template.resources["UserPoolClient"].properties

    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert (pool["UsernameAttributes"], pool["UsernameConfiguration"]) == (
        ["email"],
        {"CaseSensitive": False},
    )
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert (pool["MfaConfiguration"], pool["EnabledMfas"]) == ("OPTIONAL", ["SOFTWARE_TOKEN_MFA"])
    message = pool["VerificationMessageTemplate"]
    assert "{####}" in message["EmailMessage"]
    assert message["EmailSubject"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert {"name", "locale", "phone_number"} <= set(client["WriteAttributes"])
    assert "custom:account_id" not in client["WriteAttributes"]


@pytest.mark.parametrize(("verified", "account"), [("false", "COGNITO_DEFAULT"), ("true", "DEVELOPER")])
def test_cognito_sends_through_ses_once_the_sender_is_verified(
    template: Template, verified: str, account: str
) -> None:
    pool = template.resources["UserPool"]
    resolved = _resolver(template, SenderEmailVerified=verified, SenderEmail="hello@tally.example")
    config = resolved.resolve(pool.properties)["EmailConfiguration"]

    assert config["EmailSendingAccount"] == account
    if account == "DEVELOPER":
        assert config["SourceArn"].endswith(":identity/SenderEmailIdentity")
        assert config["From"] == "Tally <hello@tally.example>"
