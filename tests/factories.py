"""Plain functions that make communications through the store's own API."""

from typing import Any

from store import Store, communications
from store.lifecycle import Kind, Origin
from store.tables import Communication

CONTENT: dict[Kind, dict[str, Any]] = {
    Kind.EMAIL: {"subject": "Hello"},
    Kind.SMS: {"text": "Hello"},
    Kind.WEB_PUSH: {"title": "Hello"},
    Kind.MOBILE_PUSH: {"title": "Hello"},
    Kind.DYNAMIC_CONTENT: {"placement": "home-hero"},
    Kind.IN_APP: {"title": "Hello"},
    Kind.SCREEN_VIEW: {"screen": "welcome"},
    Kind.LANDING_PAGE: {"title": "Hello"},
}


async def create(
    store: Store,
    kind: Kind = Kind.EMAIL,
    *,
    name: str = "Example",
    origin: Origin = Origin.CAMPAIGN,
    audience_size: int | None = None,
    **content: Any,
) -> Communication:
    values = {**CONTENT[kind], **content}
    if kind is Kind.LANDING_PAGE:
        values.setdefault("slug", f"page-{_next()}")
    size = audience_size if audience_size is not None else (10 if kind in _MESSAGES else None)
    return await communications.create(
        store, kind, name=name, origin=origin, content=values, audience_size=size, actor="test"
    )


_MESSAGES = {Kind.EMAIL, Kind.SMS, Kind.WEB_PUSH, Kind.MOBILE_PUSH}
_counter = iter(range(1, 1_000_000))


def _next() -> int:
    return next(_counter)
