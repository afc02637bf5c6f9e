"""The GraphQL API: types and thin resolvers over the store."""

import strawberry

from schema.mutations import Mutation
from schema.queries import Query
from schema.subscriptions import Subscription
from schema.types import TYPES

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=list(TYPES.values()),
)
