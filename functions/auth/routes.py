"""Sign-in routes: register, confirm, codes, password reset, login (with TOTP), refresh, MFA setup.

All public except `/v1/me/mfa/*`, which API Gateway's JWT authorizer guards like every private
route; they take the caller's Cognito access token in the body, because Cognito's TOTP calls
need it. Answers that carry tokens or a TOTP secret are never cached.
"""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from tally.auth.cognito import CognitoIdentity
from tally.auth.domain import MfaChallenge, NewUser, SignedIn
from tally.auth.models import (
    ConfirmIn,
    EmailIn,
    LoginIn,
    LoginMfaIn,
    MessageOut,
    MfaEnabledOut,
    MfaRequiredOut,
    MfaSetupIn,
    MfaSetupOut,
    MfaVerifyIn,
    PasswordResetIn,
    RefreshedOut,
    RefreshIn,
    RegisterIn,
    SignedInOut,
)
from tally.auth.service import AuthService
from tally.http.responses import BODY, PRIVATE, RETRY_AFTER, responses
from tally.http.security import BEARER
from tally.identity.principal import principal_from_event
from tally.notifications.mailer import SesMailer
from tally.settings import get_settings
from tally.storage import clients

router = Router()

TAGS = ["auth"]
NO_STORE = {"Cache-Control": "no-store"}

CODE_SENT = (
    "We sent an email to this address. If it holds a 6-digit code, confirm the address with it "
    "(POST /v1/auth/confirm); ask for a new code with POST /v1/auth/resend-code."
)
RESET_SENT = (
    "If this address has a confirmed account, we sent it a 6-digit code: set a new password with "
    "POST /v1/auth/password-reset/confirm."
)
TOO_MANY = (
    "Too many attempts or codes for this address (Cognito's limit): wait `Retry-After` seconds; "
    "or API Gateway's throttling (`message` only)"
)
CODE_PROBLEMS = (
    "Invalid input, or a wrong or expired code (`code`): check the latest email or ask for a new one"
)


def _documented(
    status: int, description: str, errors: tuple[int, ...], notes: dict[int, str]
) -> dict[int, OpenAPIResponse]:
    """responses(), with Retry-After on 429 too: Cognito's attempt limits answer it (TooManyAttempts)."""
    documented = responses(status, description, errors, {429: TOO_MANY, **notes})
    documented[429]["headers"] = RETRY_AFTER
    return documented


def _no_store[Model: BaseModel](model: Model) -> Response[Model]:
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=model, headers=NO_STORE
    )


@lru_cache(maxsize=1)
def service() -> AuthService:
    settings = get_settings()
    return AuthService(
        identity=CognitoIdentity(clients.cognito(), settings.user_pool_client_id),
        mailer=lambda: SesMailer(clients.sesv2(), settings.sender_email),
    )


@router.post(
    "/v1/auth/register",
    summary="Create a user and email them a confirmation code",
    description="The same answer whether the address is new, registered but unconfirmed (a new code "
    "is sent) or already confirmed (its owner is told by email that someone tried).",
    tags=TAGS,
    status_code=202,
    responses=_documented(
        202,
        "An email was sent to the address",
        BODY,
        {422: "Invalid input: a password that breaks the policy names `password` with the rule in words"},
    ),
)
def register(body: RegisterIn) -> MessageOut:
    service().register(
        NewUser(
            email=body.email, password=body.password, name=body.name, phone=body.phone, locale=body.locale
        )
    )
    return MessageOut(message=CODE_SENT)


@router.post(
    "/v1/auth/confirm",
    summary="Confirm an email address with the code sent to it",
    tags=TAGS,
    responses=_documented(200, "Confirmed: the user can sign in", BODY, {422: CODE_PROBLEMS}),
)
def confirm(body: ConfirmIn) -> MessageOut:
    service().confirm(body.email, body.code)
    return MessageOut(message="Your email address is confirmed: sign in with POST /v1/auth/login.")


@router.post(
    "/v1/auth/resend-code",
    summary="Email a new confirmation code",
    description="The same answer for every address, registered, confirmed or not, and whether or not "
    "Cognito's limit on codes for the address is reached.",
    tags=TAGS,
    status_code=202,
    responses=_documented(202, "A code was sent if the address awaits confirmation", BODY, {}),
)
def resend_code(body: EmailIn) -> MessageOut:
    service().resend_code(body.email)
    return MessageOut(message=CODE_SENT)


@router.post(
    "/v1/auth/password-reset",
    summary="Email a code to set a new password",
    description="Always 202, whether the address has an account or not (or has asked too often).",
    tags=TAGS,
    status_code=202,
    responses=_documented(202, "A code was sent if the address has a confirmed account", BODY, {}),
)
def password_reset(body: EmailIn) -> MessageOut:
    service().start_password_reset(body.email)
    return MessageOut(message=RESET_SENT)


@router.post(
    "/v1/auth/password-reset/confirm",
    summary="Set a new password with the code sent by email",
    tags=TAGS,
    responses=_documented(
        200,
        "The password is changed",
        BODY,
        {422: CODE_PROBLEMS + "; or a new password that breaks the policy (`new_password`)"},
    ),
)
def password_reset_confirm(body: PasswordResetIn) -> MessageOut:
    service().finish_password_reset(body.email, body.code, body.new_password)
    return MessageOut(message="Your password is changed: sign in with it.")


@router.post(
    "/v1/auth/login",
    summary="Sign in with email and password",
    description="Answers the tokens, or `{mfa_required: true, session}` when the user has TOTP on: "
    "then `POST /v1/auth/login/mfa` with the authenticator's code completes the sign-in.",
    tags=TAGS,
    responses=_documented(
        200,
        "Cognito tokens, or the request for a TOTP code",
        (*BODY, 401, 403),
        {
            401: "Wrong email or password, or the user must first reset it or answer a challenge",
            403: "The user has not confirmed their email address yet",
        },
    ),
)
def login(body: LoginIn) -> Response[SignedInOut | MfaRequiredOut]:
    answer = service().sign_in(body.email, body.password)
    out: SignedInOut | MfaRequiredOut
    if isinstance(answer, MfaChallenge):
        out = MfaRequiredOut(mfa_required=True, session=answer.session)
    else:
        out = _signed_in(answer)
    return _no_store(out)


@router.post(
    "/v1/auth/login/mfa",
    summary="Complete a sign-in with the authenticator's code",
    tags=TAGS,
    responses=_documented(
        200,
        "Cognito tokens",
        (*BODY, 401),
        {
            401: "The sign-in session has expired or is not valid: sign in again",
            422: "Invalid input, or not the authenticator's current code (`code`)",
        },
    ),
)
def login_mfa(body: LoginMfaIn) -> Response[SignedInOut]:
    return _no_store(_signed_in(service().complete_mfa(body.email, body.session, body.code)))


def _signed_in(signed_in: SignedIn) -> SignedInOut:
    tokens = signed_in.tokens
    return SignedInOut(
        id_token=tokens.id_token,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        mfa_setup_required=signed_in.mfa_setup_required,
    )


@router.post(
    "/v1/auth/refresh",
    summary="New id and access tokens from a refresh token",
    tags=TAGS,
    responses=_documented(
        200,
        "New id and access tokens (the refresh token stays the same)",
        (*BODY, 401),
        {401: "The refresh token has expired or was revoked (signed out): sign in again"},
    ),
)
def refresh(body: RefreshIn) -> Response[RefreshedOut]:
    tokens = service().refresh(body.refresh_token)
    return _no_store(
        RefreshedOut(id_token=tokens.id_token, access_token=tokens.access_token, expires_in=tokens.expires_in)
    )


@router.post(
    "/v1/me/mfa/setup",
    summary="Start setting up TOTP: a new secret for an authenticator app",
    description="Send your Cognito access token (from the sign-in answer); then confirm with a code "
    "at `POST /v1/me/mfa/verify`. Until then, sign-in does not ask for codes.",
    tags=TAGS,
    security=BEARER,
    responses=_documented(
        200,
        "The secret and its otpauth:// URI",
        (*PRIVATE, *BODY),
        {
            401: "No valid bearer token (API Gateway's authorizer answers with `message` only), or "
            "the access token is not valid or has expired (`access_token`)",
            403: "The access token belongs to another user",
        },
    ),
)
def mfa_setup(body: MfaSetupIn) -> Response[MfaSetupOut]:
    principal = principal_from_event(router.current_event)
    setup = service().start_totp(body.access_token, principal.subject, principal.email)
    return _no_store(MfaSetupOut(secret=setup.secret, otpauth_uri=setup.uri))


@router.post(
    "/v1/me/mfa/verify",
    summary="Turn TOTP on with a code of the new secret",
    description="From then on, sign-in asks for the authenticator's code.",
    tags=TAGS,
    security=BEARER,
    responses=_documented(
        200,
        "TOTP is on, and the preferred MFA",
        (*PRIVATE, *BODY),
        {
            401: "No valid bearer token (API Gateway's authorizer answers with `message` only), or "
            "the access token is not valid or has expired (`access_token`)",
            403: "The access token belongs to another user",
            422: "Invalid input, or not the authenticator's current code (`code`)",
        },
    ),
)
def mfa_verify(body: MfaVerifyIn) -> MfaEnabledOut:
    principal = principal_from_event(router.current_event)
    service().enable_totp(body.access_token, principal.subject, body.code)
    return MfaEnabledOut(mfa_enabled=True)
