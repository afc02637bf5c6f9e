"""Token management for admins: list, create (the secret is shown once), revoke."""

from datetime import datetime
from typing import Annotated, Self

import strawberry

from schema.context import Info
from schema.types import UserError, refusals_as_user_errors
from store import tokens
from store.tables import ApiToken as Row

ApiRole = Annotated[tokens.ApiRole, strawberry.enum(name="ApiRole")]


@strawberry.type(description="A named API token; its secret is never shown again.")
class ApiToken:
    name: str
    role: ApiRole
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Row) -> Self:
        return cls(
            name=row.name,
            role=tokens.ApiRole(row.role),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type
class CreateApiTokenPayload:
    token: ApiToken | None
    secret: str | None = strawberry.field(
        description="Send as `Authorization: Bearer <secret>`. Shown this once only."
    )
    user_errors: list[UserError]


@strawberry.type
class RevokeApiTokenPayload:
    token: ApiToken | None
    user_errors: list[UserError]


@strawberry.type
class TokenQuery:
    @strawberry.field(description="Every API token, revoked ones included.")
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        return [ApiToken.of(row) for row in await tokens.tokens(info.context.store)]


@strawberry.type
class TokenMutation:
    @strawberry.mutation(description="A new API token with one role.")
    @refusals_as_user_errors(CreateApiTokenPayload, token=None, secret=None)
    async def create_api_token(self, info: Info, name: str, role: ApiRole) -> CreateApiTokenPayload:
        row, secret = await tokens.create(info.context.store, name, role)
        return CreateApiTokenPayload(token=ApiToken.of(row), secret=secret, user_errors=[])

    @strawberry.mutation(
        description="Revoke a token now; its open websockets are closed (code 4403)."
    )
    @refusals_as_user_errors(RevokeApiTokenPayload, token=None)
    async def revoke_api_token(self, info: Info, name: str) -> RevokeApiTokenPayload:
        row = await tokens.revoke(info.context.store, name)
        return RevokeApiTokenPayload(token=ApiToken.of(row), user_errors=[])
