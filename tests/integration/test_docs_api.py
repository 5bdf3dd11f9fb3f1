"""The whole API's OpenAPI document and Swagger UI, served by the docs function."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tally.countries import COUNTRY_CODES
from tally.http.fields import EMAIL, VISIBLE_TEXT
from tally.money import CURRENCY_EXPONENTS
from tests.support.events import FakeContext, http_event
from tests.support.stack import Stack


@pytest.fixture
def docs(stack: Stack) -> Iterator[Stack]:
    with stack.environment("DocsFunction"):
        yield stack


def test_openapi_document_lists_every_route_the_template_serves(docs: Stack) -> None:
    from docs.app import lambda_handler

    answer = lambda_handler(http_event("GET", "/v1/openapi.json"), FakeContext())  # type: ignore[arg-type]

    assert answer["statusCode"] == 200
    document = json.loads(answer["body"])
    served = {
        (event.method.lower(), event.path)
        for spec in docs.functions.values()
        for event in spec.http_events
        if spec.logical_id != "DocsFunction"
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == documented
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # The routes that take API keys too name both schemes (either one will do).
    assert document["paths"]["/v1/track/stats"]["get"]["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert document["components"]["securitySchemes"]["apiKeyAuth"]["scheme"] == "bearer"
    assert document["components"]["securitySchemes"]["apiKeyAuth"]["bearerFormat"].startswith("tally_sk_")


def test_swagger_ui_is_served(docs: Stack) -> None:
    from docs.app import lambda_handler

    answer = lambda_handler(http_event("GET", "/v1/docs"), FakeContext())  # type: ignore[arg-type]

    assert answer["statusCode"] == 200
    assert "swagger" in answer["body"].lower()


def openapi(docs: Stack) -> dict[str, Any]:
    from docs.app import lambda_handler

    answer = lambda_handler(http_event("GET", "/v1/openapi.json"), FakeContext())  # type: ignore[arg-type]
    return dict(json.loads(answer["body"]))


SUCCESS = {
    ("post", "/v1/track/click"): "202",
    ("post", "/v1/track/view"): "202",
    ("post", "/v1/track/events"): "202",
    ("get", "/v1/track/stats"): "200",
    ("post", "/v1/auth/login"): "200",
    ("post", "/v1/auth/login/mfa"): "200",
    ("post", "/v1/auth/register"): "202",
    ("post", "/v1/auth/confirm"): "200",
    ("post", "/v1/auth/resend-code"): "202",
    ("post", "/v1/auth/password-reset"): "202",
    ("post", "/v1/auth/password-reset/confirm"): "200",
    ("post", "/v1/auth/refresh"): "200",
    ("post", "/v1/me/mfa/setup"): "200",
    ("post", "/v1/me/mfa/verify"): "200",
    ("post", "/v1/accounts"): "201",
    ("get", "/v1/accounts/{account_id}"): "200",
    ("patch", "/v1/accounts/{account_id}"): "200",
    ("post", "/v1/accounts/{account_id}/status"): "200",
    ("get", "/v1/accounts/{account_id}/members"): "200",
    ("patch", "/v1/accounts/{account_id}/members/{user_id}"): "200",
    ("delete", "/v1/accounts/{account_id}/members/{user_id}"): "204",
    ("post", "/v1/accounts/{account_id}/invitations"): "201",
    ("get", "/v1/accounts/{account_id}/invitations"): "200",
    ("delete", "/v1/accounts/{account_id}/invitations/{invitation_id}"): "204",
    ("post", "/v1/invitations/accept"): "200",
    ("post", "/v1/accounts/join"): "201",
    ("get", "/v1/accounts/{account_id}/join-requests"): "200",
    ("post", "/v1/accounts/{account_id}/join-requests/{request_id}/approve"): "200",
    ("post", "/v1/accounts/{account_id}/join-requests/{request_id}/reject"): "200",
    ("get", "/v1/me"): "200",
    ("patch", "/v1/me"): "200",
    ("post", "/v1/auth/logout"): "200",
    ("get", "/v1/audit"): "200",
    ("post", "/v1/accounts/{account_id}/api-keys"): "201",
    ("get", "/v1/accounts/{account_id}/api-keys"): "200",
    ("delete", "/v1/accounts/{account_id}/api-keys/{key_id}"): "200",
    # issue 7, usage half
    ("post", "/v1/metrics"): "201",
    ("get", "/v1/metrics"): "200",
    ("post", "/v1/usage"): "202",
    ("post", "/v1/quotas/check"): "200",
    ("get", "/v1/accounts/{account_id}/usage"): "200",
    ("get", "/v1/accounts/{account_id}/usage/charges"): "200",
    ("get", "/v1/accounts/{account_id}/entitlements"): "200",
    ("put", "/v1/accounts/{account_id}/overrides"): "200",
    ("get", "/v1/accounts/{account_id}/quota-violations"): "200",
    ("get", "/v1/quota-violations"): "200",
    # --- issue 7, catalogue half ---
    ("get", "/v1/plans"): "200",
    ("get", "/v1/plans/{code}"): "200",
    ("post", "/v1/plans"): "201",
    ("post", "/v1/plans/{code}/versions"): "200",
    ("post", "/v1/plans/{code}/archive"): "200",
    ("get", "/v1/plans/{code}/versions"): "200",
    ("post", "/v1/plans/import"): "200",
    ("post", "/v1/accounts/{account_id}/subscription"): "201",
    ("get", "/v1/accounts/{account_id}/subscription"): "200",
    ("get", "/v1/accounts/{account_id}/subscription/preview-change"): "200",
    ("post", "/v1/accounts/{account_id}/subscription/change"): "200",
    ("post", "/v1/accounts/{account_id}/subscription/cancel"): "200",
    ("post", "/v1/accounts/{account_id}/subscription/resume"): "200",
    # issue 8, coupons
    ("post", "/v1/coupons"): "201",
    ("get", "/v1/coupons"): "200",
    ("post", "/v1/coupons/validate"): "200",
    ("get", "/v1/coupons/{code}"): "200",
    ("patch", "/v1/coupons/{code}"): "200",
    ("post", "/v1/coupons/{code}/deactivate"): "200",
    ("delete", "/v1/coupons/{code}"): "204",
    # issue 8, invoices
    ("get", "/v1/settings/billing"): "200",
    ("put", "/v1/settings/billing"): "200",
    ("post", "/v1/invoices"): "201",
    ("get", "/v1/invoices"): "200",
    ("get", "/v1/invoices/{invoice_id}"): "200",
    ("patch", "/v1/invoices/{invoice_id}"): "200",
    ("post", "/v1/invoices/{invoice_id}/finalize"): "200",
    ("post", "/v1/invoices/{invoice_id}/void"): "200",
    ("post", "/v1/invoices/{invoice_id}/mark-uncollectible"): "200",
    ("post", "/v1/invoices/{invoice_id}/payments"): "201",
    ("post", "/v1/invoices/{invoice_id}/credit-notes"): "201",
    ("get", "/v1/invoices/{invoice_id}/credit-notes"): "200",
    ("get", "/v1/accounts/{account_id}/invoices"): "200",
    ("get", "/v1/invoices/{invoice_id}/pdf"): "200",
    ("post", "/v1/invoices/{invoice_id}/pdf"): "200",
    ("get", "/v1/invoices/{invoice_id}/credit-notes/{credit_note_id}/pdf"): "200",
    ("post", "/v1/accounts/{account_id}/subscription/invoice"): "201",
    # issue 9, checkout
    ("post", "/v1/billing/checkout"): "201",
    ("get", "/v1/billing/subscription"): "200",
    ("post", "/v1/billing/portal"): "200",
    ("post", "/v1/billing/subscription/cancel"): "200",
    ("post", "/v1/billing/subscription/resume"): "200",
    ("post", "/v1/billing/subscription/preview-change"): "200",
    ("post", "/v1/billing/subscription/change"): "200",
    ("get", "/v1/placements/{location_id}/{category_id}"): "200",
    # issue 10, scheduled jobs
    ("get", "/v1/jobs/runs"): "200",
    ("get", "/v1/jobs/dead-letters"): "200",
    ("post", "/v1/jobs/dead-letters/{message_id}/replay"): "200",
    # issue 9, the webhook pipeline
    ("post", "/v1/webhooks/stripe"): "200",
}


def operations(document: dict[str, Any]) -> Iterator[tuple[tuple[str, str], dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield (method, path), operation


# Answers besides the success and the errors: the period's invoice made earlier (200), a redirect
# to a PDF's link (302).
ALSO = {
    ("post", "/v1/accounts/{account_id}/subscription/invoice"): {"200"},
    ("get", "/v1/invoices/{invoice_id}/pdf"): {"302"},
    ("get", "/v1/invoices/{invoice_id}/credit-notes/{credit_note_id}/pdf"): {"302"},
}


def test_each_route_documents_its_real_success_and_every_error_it_can_answer(docs: Stack) -> None:
    document = openapi(docs)

    for key, operation in operations(document):
        also = ALSO.get(key, set())
        assert also <= set(operation["responses"]), key
        documented = set(operation["responses"]) - also
        success = SUCCESS[key]
        errors = {"429", "503"}
        if operation.get("security"):
            errors |= {"401", "403"}
        if "requestBody" in operation:
            errors |= {"413", "415", "422"}
        if operation.get("parameters"):
            errors.add("422")
        assert documented - {success} >= errors, key
        assert [code for code in documented if code.startswith("2")] == [success], key
        for code in documented - {success}:
            assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, (key, code)
        assert operation["responses"]["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    paths = document["paths"]
    assert "409" in paths["/v1/accounts"]["post"]["responses"]
    for path, method in [
        ("/v1/track/click", "post"),
        ("/v1/track/stats", "get"),
        ("/v1/accounts/{account_id}", "get"),
    ]:
        assert "404" in paths[path][method]["responses"]


def test_errors_have_tallys_shape_and_nothing_of_powertools_is_left(docs: Stack) -> None:
    schemas = openapi(docs)["components"]["schemas"]

    assert not {"HTTPValidationError", "ValidationError", "ResponseValidationError"} & set(schemas)
    assert schemas["Error"]["required"] == ["message"]
    assert set(schemas["Error"]["properties"]) == {"message", "code", "errors"}
    assert "API Gateway" in schemas["Error"]["description"]
    assert schemas["ErrorDetail"]["properties"]["in"]["enum"] == ["body", "query", "path", "header"]


def test_codes_and_constraints_the_code_enforces_are_in_the_schema(docs: Stack) -> None:
    schemas = openapi(docs)["components"]["schemas"]
    account = schemas["AccountIn"]["properties"]

    assert account["country"]["enum"] == sorted(COUNTRY_CODES)
    assert account["currency"]["enum"] == sorted(CURRENCY_EXPONENTS)
    assert (account["name"]["pattern"], account["email"]["pattern"]) == (VISIBLE_TEXT, EMAIL)
    assert account["siren"]["anyOf"][0]["format"] == "siren"
    assert schemas["ClickIn"]["properties"]["position"]["anyOf"][0] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 100_000,
    }
    assert schemas["ClickIn"]["additionalProperties"] is False
    for name in ("page_url", "referrer", "page_type"):
        assert "\\x00" in schemas["ClickIn"]["properties"][name]["anyOf"][0]["pattern"]


def test_the_sign_in_routes_document_their_rules(docs: Stack) -> None:
    from tally.auth import password

    document = openapi(docs)
    schemas = document["components"]["schemas"]
    new_password = schemas["RegisterIn"]["properties"]["password"]

    assert (new_password["pattern"], new_password["minLength"], new_password["maxLength"]) == (
        password.PATTERN,
        password.MIN_LENGTH,
        password.MAX_LENGTH,
    )
    assert new_password["format"] == "tally-password"
    assert schemas["PasswordResetIn"]["properties"]["new_password"]["pattern"] == password.PATTERN
    assert schemas["ConfirmIn"]["properties"]["code"]["pattern"] == "^[0-9]{6}$"
    assert schemas["RegisterIn"]["properties"]["locale"]["enum"] == ["en", "fr"]
    login = document["paths"]["/v1/auth/login"]["post"]["responses"]
    assert login["200"]["content"]["application/json"]["schema"]["anyOf"] == [
        {"$ref": "#/components/schemas/SignedInOut"},
        {"$ref": "#/components/schemas/MfaRequiredOut"},
    ]
    # Cognito's attempt limits answer 429 with Retry-After.
    assert login["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert document["paths"]["/v1/me/mfa/setup"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/v1/auth/register"]["post"]


def test_the_api_key_routes_document_the_secret_once_and_what_each_key_may_do(docs: Stack) -> None:
    document = openapi(docs)
    created = document["paths"]["/v1/accounts/{account_id}/api-keys"]["post"]["responses"]["201"]
    assert created["headers"]["Cache-Control"]["schema"] == {"type": "string"}
    schemas = document["components"]["schemas"]
    assert "secret" in schemas["ApiKeyCreatedOut"]["required"]
    assert "secret" not in schemas["ApiKeyOut"]["properties"]
    scopes = schemas["ApiKeyIn"]["properties"]["scopes"]
    assert (scopes["minItems"], scopes["uniqueItems"]) == (1, True)
    stats = document["paths"]["/v1/track/stats"]["get"]["responses"]
    assert "unknown or revoked" in stats["401"]["description"]
    assert "scope" in stats["403"]["description"]
