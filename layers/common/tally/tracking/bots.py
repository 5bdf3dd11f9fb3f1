"""Known crawlers are acknowledged but never counted.

Matching is on user-agent tokens that crawlers announce themselves with; generic HTTP clients
(curl, python-requests) are not crawlers and count like browsers.
"""

from __future__ import annotations

import re

_CRAWLER_TOKENS = (
    r"bot\b",
    r"bot/",
    r"crawler",
    r"crawling",
    r"spider",
    r"slurp",
    r"googlebot",
    r"bingpreview",
    r"mediapartners-google",
    r"adsbot-google",
    r"apis-google",
    r"google-inspectiontool",
    r"googleother",
    r"feedfetcher",
    r"facebookexternalhit",
    r"facebookcatalog",
    r"meta-externalagent",
    r"ia_archiver",
    r"archive\.org_bot",
    r"headlesschrome",
    r"phantomjs",
    r"lighthouse",
    r"pingdom",
    r"uptimerobot",
    r"statuscake",
    r"gptbot",
    r"chatgpt-user",
    r"claudebot",
    r"anthropic-ai",
    r"ccbot",
    r"bytespider",
    r"petalbot",
    r"yandex",
    r"baiduspider",
    r"sogou",
    r"exabot",
    r"semrush",
    r"ahrefs",
    r"mj12bot",
    r"dotbot",
    r"screaming frog",
    r"embedly",
    r"whatsapp",
    r"telegrambot",
    r"discordbot",
    r"skypeuripreview",
    r"slackbot",
    r"twitterbot",
    r"linkedinbot",
    r"pinterest",
    r"applebot",
    r"duckduckbot",
    r"qwantify",
    r"seznambot",
)

_CRAWLER = re.compile("|".join(_CRAWLER_TOKENS), re.IGNORECASE)


def is_crawler(user_agent: str | None) -> bool:
    return bool(user_agent) and _CRAWLER.search(user_agent or "") is not None
