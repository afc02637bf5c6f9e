"""The kinds of communication, each declared once: its family, its content fields with their
rules, and its channel's event names.

Everything else that differs by kind is derived from `SPECS`: the lifecycle's families
(store/lifecycle.py), the content checks (store/content.py), the event names
(store/audience.py, store/deliveries.py), and in the GraphQL layer the status enums, the
create and update inputs and mutations and their permission entries. To add a kind: a member
of `Kind`, its `Spec` here, an output type in schema/types.py and a seed example in
server/seed.py (README, "Adding a kind").
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEB_PUSH = "WEB_PUSH"
    MOBILE_PUSH = "MOBILE_PUSH"
    DYNAMIC_CONTENT = "DYNAMIC_CONTENT"
    IN_APP = "IN_APP"
    SCREEN_VIEW = "SCREEN_VIEW"
    LANDING_PAGE = "LANDING_PAGE"


class Family(StrEnum):
    MESSAGE = "MESSAGE"  # queued to providers: SENDING, then FINISHED
    DISPLAY = "DISPLAY"  # shown while ACTIVE, can pause
    PAGE = "PAGE"  # published or not


SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WEB_URL = re.compile(r"^https?://\S+$")
URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")


@dataclass(frozen=True)
class Rule:
    """One content field: a string, required on create or not, and how it is checked."""

    name: str
    required: bool = False
    max_length: int = 1_000
    pattern: re.Pattern[str] | None = None
    expected: str = ""


def text(name: str, max_length: int = 1_000, *, required: bool = False) -> Rule:
    return Rule(name, required, max_length)


@dataclass(frozen=True)
class Spec:
    kind: str  # a `Kind` value; a plain string lets a test build a schema with a made-up kind
    name: str  # names it in the API: its type, its status enum, its inputs and mutations
    family: Family
    fields: tuple[Rule, ...]  # in the order the API lists them
    # the prefix of its channel's event names: `message.send`, `inApp.show`; None: no events
    channel: str | None = None


def spec(kind: Kind, name: str, family: Family, channel: str | None, *fields: Rule) -> Spec:
    return Spec(kind, name, family, fields, channel)


def need(name: str, max_length: int) -> Rule:
    """A text field a create must give, not blank."""
    return text(name, max_length, required=True)


K, M, D, P = Kind, Family.MESSAGE, Family.DISPLAY, Family.PAGE
HTML = text("html", 500_000)
# a kind on one line where it fits, so the table reads as a table
# fmt: off
SPECS: dict[Kind, Spec] = {
    Kind(s.kind): s
    for s in (
        spec(
            K.EMAIL, "EmailCampaign", M, "message",
            need("subject", 200),
            Rule("from_address", False, 320, EMAIL_ADDRESS, "an email address"),
            text("body", 500_000),
        ),
        spec(K.SMS, "SmsCampaign", M, "sms", need("text", 1_600), text("sender_name", 11)),
        spec(
            K.WEB_PUSH, "WebPushCampaign", M, "webpush",
            need("title", 100), text("body", 500),
            Rule("url", False, 2_000, WEB_URL, "an http(s) URL"),
        ),
        spec(
            K.MOBILE_PUSH, "MobilePushCampaign", M, "push",
            need("title", 100), text("body", 500),
            Rule("deep_link", False, 2_000, URI, "a URI such as app://offers"),
        ),
        spec(
            K.DYNAMIC_CONTENT, "DynamicContent", D, "dynamicContent", need("placement", 100), HTML
        ),
        spec(K.IN_APP, "InAppMessage", D, "inApp", need("title", 100), text("body", 2_000)),
        spec(K.SCREEN_VIEW, "ScreenView", D, "screenView", need("screen", 100), HTML),
        spec(
            K.LANDING_PAGE, "LandingPage", P, None,
            Rule("slug", True, 100, SLUG, "lowercase letters, digits and single dashes"),
            need("title", 200), HTML,
        ),
    )
}
# fmt: on

# a Kind without a spec (or a spec for no Kind) would fail at its first use, far from here
assert list(SPECS) == list(Kind), "store/kinds.py: every Kind needs exactly one Spec, in order"


def channels(family_: Family) -> dict[Kind, str]:
    """The channel of each kind of this family that has one."""
    return {k: s.channel for k, s in SPECS.items() if s.family is family_ and s.channel}
