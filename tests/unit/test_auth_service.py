"""Signing up and in with in-memory fakes: what a caller learns, what gets sent, who must set up MFA."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tally.auth.claims import groups, unverified_claims
from tally.auth.domain import MfaChallenge, NewUser, SignedIn
from tally.auth.errors import TooManyAttempts
from tally.auth.service import AuthService
from tally.errors import Forbidden, InvalidInput, NotAuthenticated, ServiceUnavailable
from tally.notifications.mailer import EmailNotSent
from tests.support.auth import TOTP_CODE, FakeIdentityProvider, RecordingMailer, unsigned_jwt

EMAIL = "jo@example.com"
PASSWORD = "Correct-Horse-9!"


@pytest.fixture
def identity() -> FakeIdentityProvider:
    return FakeIdentityProvider()


@pytest.fixture
def mailer() -> RecordingMailer:
    return RecordingMailer()


@pytest.fixture
def auth(identity: FakeIdentityProvider, mailer: RecordingMailer) -> AuthService:
    return AuthService(identity, lambda: mailer)


def new_user(email: str = EMAIL, locale: str = "en") -> NewUser:
    return NewUser(email, PASSWORD, "Jo", "+33612345678", locale)  # type: ignore[arg-type]


def test_a_new_address_gets_a_code_and_can_then_sign_in(
    auth: AuthService, identity: FakeIdentityProvider
) -> None:
    auth.register(new_user("Jo@Example.com"))
    auth.confirm("JO@example.com", identity.codes[("sign_up", EMAIL)])

    signed_in = auth.sign_in(EMAIL, PASSWORD)

    assert isinstance(signed_in, SignedIn)
    assert signed_in.mfa_setup_required is False
    assert identity.users[EMAIL].user.phone == "+33612345678"


def test_an_unconfirmed_address_registered_again_gets_a_new_code(
    auth: AuthService, identity: FakeIdentityProvider, mailer: RecordingMailer
) -> None:
    auth.register(new_user())

    auth.register(new_user())

    assert identity.calls == [("sign_up", EMAIL), ("sign_up", EMAIL), ("resend_code", EMAIL)]
    assert identity.issued == [("sign_up", EMAIL), ("sign_up", EMAIL)]
    assert mailer.sent == []


@pytest.mark.parametrize(
    ("locale", "subject"), [("en", "Your Tally account already exists"), ("fr", "Votre compte")]
)
def test_a_confirmed_address_registered_again_tells_its_owner_and_nothing_else(
    auth: AuthService, identity: FakeIdentityProvider, mailer: RecordingMailer, locale: str, subject: str
) -> None:
    identity.add_confirmed(EMAIL, "Old-Password-1!")

    auth.register(NewUser(EMAIL, PASSWORD, "<a href='https://evil.example'>Pay here</a>", None, locale))  # type: ignore[arg-type]

    [notice] = mailer.sent
    assert (notice.to, notice.template, notice.locale) == (EMAIL, "account-exists", locale)
    assert notice.subject.startswith(subject)
    assert EMAIL in notice.text
    # What the caller typed (but the address) never reaches the owner's inbox.
    assert "evil" not in notice.text + notice.html
    assert identity.users[EMAIL].user.password == "Old-Password-1!"


@pytest.mark.parametrize("failure", [EmailNotSent("MessageRejected"), ServiceUnavailable()])
def test_a_notice_that_cannot_be_sent_does_not_change_the_answer(
    identity: FakeIdentityProvider, failure: Exception
) -> None:
    identity.add_confirmed(EMAIL, PASSWORD)
    auth = AuthService(identity, lambda: RecordingMailer(failure))

    auth.register(new_user())  # no error: answered like a new address


def test_resending_a_code_answers_alike_for_unknown_and_confirmed_addresses(
    auth: AuthService, identity: FakeIdentityProvider
) -> None:
    identity.add_confirmed("done@example.com", PASSWORD)

    auth.resend_code("nobody@example.com")
    auth.resend_code("done@example.com")

    assert identity.codes == {}


def test_wrong_and_expired_codes_name_the_code(auth: AuthService, identity: FakeIdentityProvider) -> None:
    auth.register(new_user())
    with pytest.raises(InvalidInput) as wrong:
        auth.confirm(EMAIL, "000000" if identity.codes[("sign_up", EMAIL)] != "000000" else "111111")
    identity.expired.add(("sign_up", EMAIL))
    with pytest.raises(InvalidInput) as expired:
        auth.confirm(EMAIL, identity.codes[("sign_up", EMAIL)])

    assert (wrong.value.field, expired.value.field) == ("code", "code")
    assert "ask for a new one" in expired.value.message


def test_a_password_is_reset_with_the_emailed_code(auth: AuthService, identity: FakeIdentityProvider) -> None:
    identity.add_confirmed(EMAIL, "Old-Password-1!")

    auth.start_password_reset("JO@example.com")
    auth.finish_password_reset(EMAIL, identity.codes[("reset", EMAIL)], PASSWORD)

    assert isinstance(auth.sign_in(EMAIL, PASSWORD), SignedIn)
    with pytest.raises(NotAuthenticated):
        auth.sign_in(EMAIL, "Old-Password-1!")


@pytest.mark.parametrize(
    ("user_groups", "flagged"),
    [((), False), (("platform-admin",), True), (("platform-manager",), True), (("billing",), False)],
)
def test_staff_signing_in_without_mfa_are_told_to_set_it_up(
    auth: AuthService, identity: FakeIdentityProvider, user_groups: tuple[str, ...], flagged: bool
) -> None:
    identity.add_confirmed(EMAIL, PASSWORD, groups=user_groups)

    signed_in = auth.sign_in(EMAIL, PASSWORD)

    assert isinstance(signed_in, SignedIn)
    assert signed_in.mfa_setup_required is flagged
    assert signed_in.tokens.id_token  # the tokens are there all the same


def test_totp_set_up_then_asked_for_at_sign_in(auth: AuthService, identity: FakeIdentityProvider) -> None:
    user = identity.add_confirmed(EMAIL, PASSWORD, groups=("platform-admin",))
    first = auth.sign_in(EMAIL, PASSWORD)
    assert isinstance(first, SignedIn)
    access = first.tokens.access_token

    setup = auth.start_totp(access, user.sub, "jo+tally@example.com")
    with pytest.raises(InvalidInput):
        auth.enable_totp(access, user.sub, "000000")
    auth.enable_totp(access, user.sub, TOTP_CODE)
    challenge = auth.sign_in(EMAIL, PASSWORD)

    uri = urlparse(setup.uri)
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Tally:jo%2Btally@example.com")
    assert parse_qs(uri.query) == {"secret": [setup.secret], "issuer": ["Tally"]}
    assert isinstance(challenge, MfaChallenge)
    with pytest.raises(InvalidInput):
        auth.complete_mfa(EMAIL, challenge.session, "000000")
    done = auth.complete_mfa(EMAIL, challenge.session, TOTP_CODE)
    assert done.mfa_setup_required is False
    with pytest.raises(NotAuthenticated):
        auth.complete_mfa(EMAIL, challenge.session, TOTP_CODE)  # a session completes one sign-in


def test_one_users_access_token_cannot_change_anothers_mfa(
    auth: AuthService, identity: FakeIdentityProvider
) -> None:
    identity.add_confirmed(EMAIL, PASSWORD)
    signed_in = auth.sign_in(EMAIL, PASSWORD)
    assert isinstance(signed_in, SignedIn)

    with pytest.raises(Forbidden) as refused:
        auth.start_totp(signed_in.tokens.access_token, "someone-else", "other@example.com")

    assert refused.value.field == "access_token"


def test_refresh_gives_new_tokens_without_a_new_refresh_token(
    auth: AuthService, identity: FakeIdentityProvider
) -> None:
    identity.add_confirmed(EMAIL, PASSWORD)
    signed_in = auth.sign_in(EMAIL, PASSWORD)
    assert isinstance(signed_in, SignedIn)
    assert signed_in.tokens.refresh_token

    refreshed = auth.refresh(signed_in.tokens.refresh_token)

    assert refreshed.refresh_token is None
    assert refreshed.id_token != signed_in.tokens.id_token
    with pytest.raises(NotAuthenticated):
        auth.refresh("revoked")


def test_claims_are_read_from_a_jwt_and_nothing_else() -> None:
    token = unsigned_jwt({"sub": "u1", "cognito:groups": ["platform-admin"]})

    assert unverified_claims(token)["sub"] == "u1"
    assert groups(token) == {"platform-admin"}
    for broken in ("", "a.b", "a.!!!.c", "a.bnVsbA.c", unsigned_jwt({"cognito:groups": "platform-admin"})):
        assert groups(broken) == frozenset()


@pytest.mark.parametrize("action", ["register", "resend_code", "start_password_reset"])
def test_the_limit_on_codes_is_not_told_to_the_caller(
    auth: AuthService, identity: FakeIdentityProvider, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """Only a known address can reach Cognito's limit: telling it would tell that the address exists."""
    identity.add_confirmed(EMAIL, PASSWORD).confirmed = False

    def limited(*args: object) -> None:
        raise TooManyAttempts()

    monkeypatch.setattr(identity, "resend_code", limited)
    monkeypatch.setattr(identity, "forgot_password", limited)
    calls = {
        "register": lambda: auth.register(new_user()),
        "resend_code": lambda: auth.resend_code(EMAIL),
        "start_password_reset": lambda: auth.start_password_reset(EMAIL),
    }

    calls[action]()  # answered like any other address
