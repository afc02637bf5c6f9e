"""Example communications of every kind, so a fresh GraphiQL has something to show.

Run by `commpulse seed` (and so by `make run`) on an empty database only; the app itself
never invents data.
"""

from datetime import timedelta
from typing import Any

from server.runtime import runtime
from server.settings import Settings
from store import changes, communications
from store.lifecycle import Action, Kind, Origin, Trigger
from store.tables import utcnow

ACTOR = "seed"

# (kind, name, content, audience, actions to apply after creating it)
EXAMPLES: list[tuple[Kind, str, dict[str, Any], int | None, list[Action]]] = [
    (
        Kind.EMAIL,
        "Winter sale announcement",
        {"subject": "Winter sale: 30% off", "from_address": "news@example.com"},
        2_000,
        [Action.SCHEDULE],
    ),
    (Kind.EMAIL, "Welcome series #1", {"subject": "Welcome aboard"}, 500, []),
    (Kind.EMAIL, "Autumn newsletter", {"subject": "What's new this autumn"}, 300, [Action.LAUNCH]),
    (
        Kind.SMS,
        "Flash sale SMS",
        {"text": "Flash sale today only!", "sender_name": "Shop"},
        10_000,
        [Action.LAUNCH],
    ),
    (
        Kind.WEB_PUSH,
        "Back in stock",
        {"title": "Back in stock", "url": "https://example.com/p/42"},
        800,
        [],
    ),
    (
        Kind.MOBILE_PUSH,
        "Cart reminder",
        {"title": "You left something behind", "deep_link": "app://cart"},
        1_200,
        [Action.SCHEDULE],
    ),
    (
        Kind.DYNAMIC_CONTENT,
        "Homepage hero banner",
        {"placement": "home-hero"},
        None,
        [Action.LAUNCH],
    ),
    (
        Kind.IN_APP,
        "New feature tour",
        {"title": "Meet the new dashboard"},
        None,
        [Action.LAUNCH, Action.PAUSE],
    ),
    (Kind.SCREEN_VIEW, "Onboarding screen", {"screen": "onboarding-1"}, None, []),
    (
        Kind.LANDING_PAGE,
        "Winter sale landing page",
        {"slug": "winter-sale", "title": "Winter sale"},
        None,
        [Action.PUBLISH],
    ),
    (
        Kind.LANDING_PAGE,
        "Spring preview",
        {"slug": "spring-preview", "title": "Spring preview"},
        None,
        [],
    ),
]


async def seed(settings: Settings) -> int:
    async with runtime(settings) as parts:
        store = parts.store
        if await communications.count(store, communications.Filter()) > 0:
            return 0
        for kind, name, content, audience, actions in EXAMPLES:
            row = await communications.create(
                store,
                kind,
                name=name,
                origin=Origin.CAMPAIGN,
                content=content,
                audience_size=audience,
                actor=ACTOR,
            )
            for action in actions:
                start = utcnow() + timedelta(minutes=10) if action is Action.SCHEDULE else None
                await changes.apply(
                    store, row.id, action, by=Trigger.PERSON, actor=ACTOR, start_at=start
                )
        return len(EXAMPLES)
