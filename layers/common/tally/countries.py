"""ISO 3166-1 alpha-2 country codes."""

from __future__ import annotations

from typing import Literal

_CODES = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS "
    "BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE "
    "EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM "
    "HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC "
    "LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA "
    "NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
)

COUNTRY_CODES = frozenset(_CODES.split())


def is_country(code: str) -> bool:
    return code in COUNTRY_CODES


# France and its overseas territories, and the countries with French as an official language.
FRENCH_COUNTRIES = frozenset(
    {
        *("FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF", "MC", "LU", "BE", "CH"),
        *("SN", "CI", "ML", "BF", "NE", "TG", "BJ", "GN", "CM", "GA", "CG", "CD", "CF", "TD", "MG", "DJ"),
        *("KM", "BI", "RW", "SC", "VU", "HT"),
    }
)


def country_locale(country: str) -> Literal["fr", "en"]:
    """The language of a customer whose own locale is unknown: French where it is an official
    language, English elsewhere."""
    return "fr" if country in FRENCH_COUNTRIES else "en"


# The names printed on an invoice address, for the countries Tally's sellers and customers are
# most often in (French-speaking Africa, Europe, North America); others print their code.
_NAMES = {
    "FR": ("France", "France"),
    "SN": ("Sénégal", "Senegal"),
    "CI": ("Côte d'Ivoire", "Côte d'Ivoire"),
    "ML": ("Mali", "Mali"),
    "BF": ("Burkina Faso", "Burkina Faso"),
    "NE": ("Niger", "Niger"),
    "TG": ("Togo", "Togo"),
    "BJ": ("Bénin", "Benin"),
    "GN": ("Guinée", "Guinea"),
    "GW": ("Guinée-Bissau", "Guinea-Bissau"),
    "CM": ("Cameroun", "Cameroon"),
    "GA": ("Gabon", "Gabon"),
    "CG": ("Congo", "Congo"),
    "CD": ("République démocratique du Congo", "Democratic Republic of the Congo"),
    "CF": ("République centrafricaine", "Central African Republic"),
    "TD": ("Tchad", "Chad"),
    "GQ": ("Guinée équatoriale", "Equatorial Guinea"),
    "MG": ("Madagascar", "Madagascar"),
    "MA": ("Maroc", "Morocco"),
    "TN": ("Tunisie", "Tunisia"),
    "DZ": ("Algérie", "Algeria"),
    "MR": ("Mauritanie", "Mauritania"),
    "BE": ("Belgique", "Belgium"),
    "CH": ("Suisse", "Switzerland"),
    "LU": ("Luxembourg", "Luxembourg"),
    "MC": ("Monaco", "Monaco"),
    "DE": ("Allemagne", "Germany"),
    "ES": ("Espagne", "Spain"),
    "IT": ("Italie", "Italy"),
    "NL": ("Pays-Bas", "Netherlands"),
    "PT": ("Portugal", "Portugal"),
    "IE": ("Irlande", "Ireland"),
    "GB": ("Royaume-Uni", "United Kingdom"),
    "US": ("États-Unis", "United States"),
    "CA": ("Canada", "Canada"),
    "GH": ("Ghana", "Ghana"),
    "NG": ("Nigeria", "Nigeria"),
    "KE": ("Kenya", "Kenya"),
}


def country_name(code: str, locale: str) -> str:
    """The country's name in French or English, or its code when Tally does not list it."""
    names = _NAMES.get(code)
    if names is None:
        return code
    return names[0] if locale.startswith("fr") else names[1]
