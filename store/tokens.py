"""API tokens: named, one role each, random secrets shown once and stored as SHA-256.

Roles form a small lattice: viewer < editor < admin, and sender beside editor (viewer's
reads plus the worker API); admin covers every role. `covers()` is the one place that says
which role satisfies which.
"""

import hashlib
import re
import secrets
from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from store import Store
from store.errors import ErrorCode, Refused, invalid
from store.tables import ApiToken, utcnow

PREFIX = "cp_"  # recognisable in logs and secret scanners
RATE_MAX = 100_000.0  # operations a second: beyond any one instance, so effectively unlimited
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class ApiRole(StrEnum):
    VIEWER = "viewer"  # queries and subscriptions
    EDITOR = "editor"  # plus create, update and every person action
    SENDER = "sender"  # viewer's reads plus the worker API and fail
    ADMIN = "admin"  # everything, token management included


_COVERS: dict[ApiRole, frozenset[ApiRole]] = {
    ApiRole.VIEWER: frozenset({ApiRole.VIEWER}),
    ApiRole.EDITOR: frozenset({ApiRole.VIEWER, ApiRole.EDITOR}),
    ApiRole.SENDER: frozenset({ApiRole.VIEWER, ApiRole.SENDER}),
    ApiRole.ADMIN: frozenset(ApiRole),
}


def covers(held: ApiRole, needed: ApiRole) -> bool:
    """Whether a token with role `held` may do what needs `needed`."""
    return needed in _COVERS[held]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create(
    store: Store, name: str, role: ApiRole, rate: float | None = None
) -> tuple[ApiToken, str]:
    """A new token and its secret; the secret is not kept and cannot be shown again. A
    `rate` (operations a second) replaces the server's default for this token."""
    if not NAME.match(name):
        raise invalid("name", "a token name is 1-64 letters, digits, '.', '_', '@' or '-'")
    if rate is not None and not 0 < rate <= RATE_MAX:
        raise invalid("rate", f"a token's rate is more than 0 and at most {RATE_MAX:g} a second")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role.value, hash=digest(secret), created_at=utcnow(), rate=rate)
    async with store.sessions() as session:
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            raise invalid("name", f"a token named {name!r} exists already") from None
        await session.refresh(row)
    return row, secret


async def tokens(store: Store) -> list[ApiToken]:
    """Every token, revoked ones included, by name."""
    async with store.sessions() as session:
        found = await session.exec(select(ApiToken).order_by(col(ApiToken.name)))
        return list(found)


async def revoke(store: Store, name: str) -> ApiToken:
    """Revoke a token now: HTTP requests with it fail from this moment, and a notice tells
    every instance to close its websockets."""
    async with store.sessions() as session:
        await session.exec(
            update(ApiToken)
            .where(col(ApiToken.name) == name, col(ApiToken.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )
        await session.commit()
        row = (await session.exec(select(ApiToken).where(col(ApiToken.name) == name))).first()
    if row is None:
        raise Refused(ErrorCode.NOT_FOUND, f"no token is named {name!r}", ["name"])
    await store.feed.publish_revoked(name)
    return row


async def authenticate(store: Store, secret: str) -> ApiToken | None:
    """The live token with this secret, or None (unknown, malformed or revoked)."""
    if not secret.startswith(PREFIX) or len(secret) > 128:
        return None
    async with store.sessions() as session:
        found = await session.exec(select(ApiToken).where(col(ApiToken.hash) == digest(secret)))
        row = found.first()
    return row if row is not None and row.revoked_at is None else None


async def live(store: Store, names: Iterable[str]) -> set[str]:
    """Which of these token names are still live (not revoked, not unknown)."""
    wanted = set(names)
    if not wanted:
        return set()
    async with store.sessions() as session:
        found = await session.exec(
            select(ApiToken.name).where(
                col(ApiToken.name).in_(wanted), col(ApiToken.revoked_at).is_(None)
            )
        )
        return set(found)
