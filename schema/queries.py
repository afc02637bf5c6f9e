"""Queries: one communication, pages of them, counts for dashboard tiles, and who is asking."""

from typing import Any, Self

import strawberry

from schema import ids
from schema.context import Info
from schema.inputs import CommunicationFilter, CommunicationOrder
from schema.tokens import ApiRole
from schema.types import (
    CommunicationUnion,
    Node,
    PageInfo,
    StatusCount,
    refusals_as_errors,
    to_graphql,
)
from store import communications
from store.communications import Filter, Order, Page
from store.errors import Refused, invalid
from store.tables import Communication as Row


@strawberry.type
class CommunicationEdge:
    order: strawberry.Private[str]
    key: strawberry.Private[tuple[Any, int]]
    cursor: str
    node: CommunicationUnion

    @classmethod
    def of(cls, order: str, key: tuple[Any, int], row: Row) -> Self:
        made = cls.__new__(cls)
        made.order, made.key, made.node = order, key, to_graphql(row)
        return made


def _cursor(edge: CommunicationEdge) -> str:
    return ids.page_cursor(edge.order, edge.key)


# made when a query selects it, as the node's fields are (schema/types.py `FromRow`): a page
# of 50 that selected no cursor made 50 (3% of its time)
setattr(CommunicationEdge, "cursor", property(_cursor))  # noqa: B010 (after strawberry made it)


@strawberry.type
class CommunicationConnection:
    filter: strawberry.Private[Filter]
    edges: list[CommunicationEdge]
    page_info: PageInfo

    @strawberry.field(description="How many communications match the filter, on every page.")
    async def total_count(self, info: Info) -> int:
        return await communications.count(info.context.store, self.filter)

    @classmethod
    def of(cls, page: Page, order: Order, flt: Filter) -> Self:
        edges = [
            CommunicationEdge.of(order.field, key, row)
            for row, key in zip(page.rows, page.keys, strict=True)
        ]
        return cls(
            filter=flt,
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


def _position(cursor: str | None, order: Order, name: str) -> tuple[Any, int] | None:
    if cursor is None:
        return None
    key = ids.page_key(cursor, order.field)
    if key is None:
        raise invalid(name, f"{name} is not a cursor of this list in this order")
    return key


async def _communication(info: Info, id: strawberry.ID) -> Any:
    try:
        row = await communications.get(info.context.store, ids.communication_pk(id))
    except Refused:
        return None
    return to_graphql(row)


@strawberry.type(description="The caller: its token's name and role (`local`, ADMIN without auth).")
class Viewer:
    name: str
    role: ApiRole


@strawberry.type
class Query:
    @strawberry.field(description="Who is asking: what a client shows or offers depends on it.")
    def viewer(self, info: Info) -> Viewer:
        role = info.context.role
        assert role is not None  # Authorize refuses an operation without one
        return Viewer(name=info.context.actor, role=role)

    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await _communication(info, id)  # type: ignore[no-any-return]

    @strawberry.field(description="One communication, or null if the id names none.")
    async def communication(self, info: Info, id: strawberry.ID) -> CommunicationUnion | None:
        return await _communication(info, id)  # type: ignore[no-any-return]

    @strawberry.field(description="A page of communications; first and last are capped at 100.")
    @refusals_as_errors
    async def communications(
        self,
        info: Info,
        filter: CommunicationFilter | None = None,
        order_by: CommunicationOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> CommunicationConnection:
        flt = filter.to_store() if filter else Filter()
        order = order_by.to_store() if order_by else Order()
        page = await communications.page(
            info.context.store,
            flt,
            order,
            first=first,
            after=_position(after, order, "after"),
            last=last,
            before=_position(before, order, "before"),
        )
        return CommunicationConnection.of(page, order, flt)

    @strawberry.field(description="Counts by kind and status, zeros included, for dashboard tiles.")
    @refusals_as_errors
    async def status_counts(
        self, info: Info, filter: CommunicationFilter | None = None
    ) -> list[StatusCount]:
        flt = filter.to_store() if filter else Filter()
        found = await communications.status_counts(info.context.store, flt)
        return [StatusCount(kind=k, status=s, count=n) for k, s, n in found]
