"""The GraphQL API: types and thin resolvers over the store."""

from collections.abc import Callable

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.deliveries import DeliveryMutation, DeliveryQuery, DeliverySubscription
from schema.errors import ErrorPolicy
from schema.executor import PerEventMemo
from schema.limits import Limits, RateLimit, RateLimiter
from schema.mutations import Mutation
from schema.permissions import Authorize
from schema.queries import Query
from schema.subscriptions import Subscription
from schema.tokens import TokenMutation, TokenQuery
from schema.types import TYPES

Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


def build(limits: Limits | None = None) -> strawberry.Schema:
    """The schema. Roles are always enforced and unexpected errors always masked; `limits`
    (from the server's settings) add the rest. Tests at the GraphQL layer go without."""
    extensions: list[Extension] = []
    config = StrawberryConfig()
    if limits is not None:
        limiter = RateLimiter(limits.rate, limits.burst)
        extensions += [
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: QueryDepthLimiter(max_depth=limits.max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=limits.max_aliases),
            lambda: RateLimit(limiter),
        ]
        if not limits.introspection:
            extensions.append(DisableIntrospection)
        config = StrawberryConfig(
            batching_config={"max_operations": limits.max_batch},
            disable_field_suggestions=not limits.field_suggestions,
        )
    suggestions = limits is None or limits.field_suggestions
    extensions += [Authorize, lambda: ErrorPolicy(field_suggestions=suggestions)]
    return strawberry.Schema(
        query=merge_types("Query", (Query, DeliveryQuery, TokenQuery)),
        mutation=merge_types("Mutation", (Mutation, DeliveryMutation, TokenMutation)),
        subscription=merge_types("Subscription", (Subscription, DeliverySubscription)),
        types=list(TYPES.values()),
        extensions=extensions,
        config=config,
        execution_context_class=PerEventMemo,  # graphql-core leaks per event without it
    )


schema = build()
