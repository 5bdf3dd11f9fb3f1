"""Emails Tally sends: rendered from jinja2 templates (HTML and text, English and French) and sent
through a `Mailer` (SES in AWS; locally SES is moto's, whose messages land in the local mailbox).

    from tally.notifications.render import render
    mailer.send(render("account-exists", "fr", to="a@example.com", email="a@example.com"))

`render` is imported from its own module so that a function that never sends mail never imports
jinja2 (decision 11).
"""
