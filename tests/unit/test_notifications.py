"""The email engine: templates rendered per locale, escaped where it matters, sent through SES."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from jinja2 import TemplateNotFound, UndefinedError

from tally.errors import ServiceUnavailable
from tally.notifications.mailer import EmailNotSent, SesMailer
from tally.notifications.render import TEMPLATES, render, supported_locale

TRICKY = "o'brien+<b>x</b>@example.com"


@pytest.mark.parametrize(
    ("locale", "subject", "greeting", "footer"),
    [
        ("en", "Your Tally account already exists", "Hello,", "Replies to this address are not read."),
        (
            "fr",
            "Votre compte Tally existe déjà",
            "Bonjour,",
            "Les réponses à cette adresse ne sont pas lues.",
        ),
    ],
)
def test_a_template_renders_text_and_html_in_its_locale_with_the_shared_layout(
    locale: str, subject: str, greeting: str, footer: str
) -> None:
    email = render("account-exists", locale, to="jo@example.com", email="jo@example.com", entity_id="u1")

    assert (email.to, email.subject, email.template, email.locale, email.entity_id) == (
        "jo@example.com",
        subject,
        "account-exists",
        locale,
        "u1",
    )
    assert email.text.startswith(greeting)
    assert email.text.rstrip().endswith(footer)
    assert f'<html lang="{locale}">' in email.html
    assert f"<title>{subject}</title>" in email.html
    assert footer in email.html


def test_only_the_html_part_is_escaped() -> None:
    email = render("account-exists", "en", to="a@example.com", email=TRICKY)

    assert TRICKY in email.text
    assert "o&#39;brien+&lt;b&gt;x&lt;/b&gt;@example.com" in email.html
    assert "<b>x</b>" not in email.html


@pytest.mark.parametrize(
    ("asked", "used"), [("fr-FR", "fr"), ("FR", "fr"), ("de", "en"), ("", "en"), (None, "en")]
)
def test_a_locale_tally_does_not_write_falls_back_to_english(asked: str | None, used: str) -> None:
    assert supported_locale(asked) == used


def test_missing_variables_and_unknown_templates_are_errors() -> None:
    with pytest.raises(UndefinedError):
        render("account-exists", "en", to="a@example.com")
    with pytest.raises(TemplateNotFound):
        render("no-such-template", "en", to="a@example.com")
    with pytest.raises(ValueError, match="Not a template name"):
        render("../account-exists", "en", to="a@example.com")


def test_every_template_has_each_part_in_each_locale() -> None:
    names = {path.name.split(".")[0] for path in TEMPLATES.iterdir() if not path.name.startswith("_")}
    for name in names:
        for locale in ("en", "fr"):
            for part in ("subject", "txt", "html"):
                assert (TEMPLATES / f"{name}.{locale}.{part}").is_file(), (name, locale, part)


class FakeSes:
    def __init__(self, error: str | None = None, status: int = 400) -> None:
        self.error = error
        self.status = status
        self.sent: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        if self.error:
            answer: Any = {
                "Error": {"Code": self.error, "Message": "x"},
                "ResponseMetadata": {"HTTPStatusCode": self.status},
            }
            raise ClientError(answer, "SendEmail")
        self.sent.append(kwargs)
        return {"MessageId": "m-1"}


def test_ses_gets_simple_content_with_both_parts() -> None:
    ses = FakeSes()
    email = render("account-exists", "fr", to="jo@example.com", email="jo@example.com")

    message_id = SesMailer(ses, "no-reply@example.com").send(email)

    assert message_id == "m-1"
    [request] = ses.sent
    assert request["FromEmailAddress"] == "no-reply@example.com"
    assert request["Destination"] == {"ToAddresses": ["jo@example.com"]}
    simple = request["Content"]["Simple"]
    assert simple["Subject"] == {"Data": email.subject, "Charset": "UTF-8"}
    assert simple["Body"] == {
        "Text": {"Data": email.text, "Charset": "UTF-8"},
        "Html": {"Data": email.html, "Charset": "UTF-8"},
    }


def test_ses_refusals_and_outages_are_told_apart() -> None:
    email = render("account-exists", "en", to="jo@example.com", email="jo@example.com")

    with pytest.raises(EmailNotSent) as refused:
        SesMailer(FakeSes("MessageRejected"), "no-reply@example.com").send(email)
    with pytest.raises(ServiceUnavailable):
        SesMailer(FakeSes("TooManyRequestsException", 429), "no-reply@example.com").send(email)

    assert refused.value.code == "MessageRejected"
    assert "jo@example.com" not in str(refused.value)
