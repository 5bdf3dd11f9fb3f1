from __future__ import annotations

import pytest

from tally.tracking.bots import is_crawler
from tally.tracking.visitor import fingerprint, truncate_ip


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        ("not-an-ip", None),
        ("", None),
        (None, None),
    ],
)
def test_ips_are_truncated_before_storage(raw: str | None, stored: str | None) -> None:
    assert truncate_ip(raw) == stored


def test_fingerprints_are_stable_salted_and_separate_parts() -> None:
    assert fingerprint("s", "a", "b") == fingerprint("s", "a", "b")
    assert fingerprint("s", "a", "b") != fingerprint("t", "a", "b")
    assert fingerprint("s", "ab", "") != fingerprint("s", "a", "b")


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
    ],
)
def test_known_crawlers_are_recognised(agent: str) -> None:
    assert is_crawler(agent)


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1",
        "curl/8.5.0",
        "",
        None,
    ],
)
def test_browsers_and_plain_clients_are_not_crawlers(agent: str | None) -> None:
    assert not is_crawler(agent)
