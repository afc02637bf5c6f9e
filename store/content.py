"""What each kind carries besides the common fields, and how those values are checked."""

import re
from dataclasses import dataclass
from typing import Any

from store.errors import invalid
from store.lifecycle import FAMILY, Family, Kind

NAME_MAX = 200
AUDIENCE_MAX = 10_000_000
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WEB_URL = re.compile(r"^https?://\S+$")
URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")


@dataclass(frozen=True)
class Rule:
    name: str
    required: bool = False
    max_length: int = 1_000
    pattern: re.Pattern[str] | None = None
    expected: str = ""


def _text(name: str, max_length: int = 1_000, *, required: bool = False) -> Rule:
    return Rule(name, required, max_length)


CONTENT: dict[Kind, tuple[Rule, ...]] = {
    Kind.EMAIL: (
        _text("subject", 200, required=True),
        Rule("from_address", max_length=320, pattern=EMAIL_ADDRESS, expected="an email address"),
        _text("body", 500_000),
    ),
    Kind.SMS: (_text("text", 1_600, required=True), _text("sender_name", 11)),
    Kind.WEB_PUSH: (
        _text("title", 100, required=True),
        _text("body", 500),
        Rule("url", max_length=2_000, pattern=WEB_URL, expected="an http(s) URL"),
    ),
    Kind.MOBILE_PUSH: (
        _text("title", 100, required=True),
        _text("body", 500),
        Rule("deep_link", max_length=2_000, pattern=URI, expected="a URI such as app://offers"),
    ),
    Kind.DYNAMIC_CONTENT: (_text("placement", 100, required=True), _text("html", 500_000)),
    Kind.IN_APP: (_text("title", 100, required=True), _text("body", 2_000)),
    Kind.SCREEN_VIEW: (_text("screen", 100, required=True), _text("html", 500_000)),
    Kind.LANDING_PAGE: (
        Rule("slug", True, 100, SLUG, "lowercase letters, digits and single dashes"),
        _text("title", 200, required=True),
        _text("html", 500_000),
    ),
}


def has_audience(kind: Kind) -> bool:
    return FAMILY[kind] is Family.MESSAGE


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise invalid("name", "name must not be blank")
    if len(name) > NAME_MAX:
        raise invalid("name", f"name is longer than {NAME_MAX} characters")
    return name


def check_audience(kind: Kind, size: int | None) -> int | None:
    if size is None:
        return None
    if not has_audience(kind):
        raise invalid("audienceSize", f"{kind} has no audience to send to")
    if not 0 <= size <= AUDIENCE_MAX:
        raise invalid("audienceSize", f"audienceSize must be between 0 and {AUDIENCE_MAX}")
    return size


def check_content(kind: Kind, values: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    """Checked values; `complete` means every required field must be there (a create)."""
    rules = {rule.name: rule for rule in CONTENT[kind]}
    unknown = set(values) - set(rules)
    if unknown:
        raise invalid(sorted(unknown)[0], f"{kind} has no field {sorted(unknown)[0]}")
    checked: dict[str, Any] = {}
    for name, value in values.items():
        checked[name] = _check(rules[name], value)
    if complete:
        for rule in rules.values():
            if rule.required and checked.get(rule.name) is None:
                raise invalid(_camel(rule.name), f"{_camel(rule.name)} is required")
    return checked


def _check(rule: Rule, value: Any) -> str | None:
    field = _camel(rule.name)
    if value is None:
        if rule.required:
            raise invalid(field, f"{field} is required")
        return None
    text = str(value).strip()
    if rule.required and not text:
        raise invalid(field, f"{field} must not be blank")
    if len(text) > rule.max_length:
        raise invalid(field, f"{field} is longer than {rule.max_length} characters")
    if text and rule.pattern is not None and not rule.pattern.fullmatch(text):
        raise invalid(field, f"{field} must be {rule.expected}")
    return text or None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
