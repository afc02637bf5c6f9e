"""What each kind carries besides the common fields, and how those values are checked."""

from typing import Any

from store.errors import invalid
from store.kinds import SPECS, Rule
from store.lifecycle import FAMILY, Family, Kind

NAME_MAX = 200
AUDIENCE_MAX = 10_000_000


# the kinds' fields and their rules are declared with the kinds
CONTENT: dict[Kind, tuple[Rule, ...]] = {kind: spec.fields for kind, spec in SPECS.items()}


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
