"""The GraphQL API: types and thin resolvers over the store."""

import strawberry
from strawberry.tools import merge_types

from schema.deliveries import DeliveryMutation, DeliveryQuery, DeliverySubscription
from schema.mutations import Mutation
from schema.queries import Query
from schema.subscriptions import Subscription
from schema.types import TYPES

schema = strawberry.Schema(
    query=merge_types("Query", (Query, DeliveryQuery)),
    mutation=merge_types("Mutation", (Mutation, DeliveryMutation)),
    subscription=merge_types("Subscription", (Subscription, DeliverySubscription)),
    types=list(TYPES.values()),
)
