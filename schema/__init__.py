"""The GraphQL API: types and thin resolvers over the store."""

from collections.abc import Callable, Sequence
from datetime import datetime

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.cost import Cost
from schema.deliveries import DeliveryMutation, DeliveryQuery, DeliverySubscription
from schema.document import max_aliases, max_depth
from schema.errors import ErrorPolicy, Schema
from schema.executor import PerEventMemo
from schema.idempotency import Idempotency
from schema.limits import Buckets, Limits, MemoryBuckets, RateLimit
from schema.mutations import Mutation
from schema.permissions import Authorize
from schema.queries import Query
from schema.subscriptions import Subscription
from schema.tokens import TokenMutation, TokenQuery
from schema.types import TYPES
from schema.values import DateTime, StorableStrings, ValidDateTimes
from schema.webhooks import WebhookMutation, WebhookQuery

Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


def build(
    limits: Limits | None = None,
    buckets: Buckets | None = None,
    outer: Sequence[Extension] = (),
) -> strawberry.Schema:
    """The schema. Roles are always enforced and unexpected errors always masked; `limits`
    (from the server's settings) add the rest, with the rate and cost budgets kept in
    `buckets` (in this process unless given). Tests at the GraphQL layer go without.
    `outer` extensions (the server's metrics and traces) wrap all the others."""
    extensions: list[Extension] = list(outer)
    checks: list[Extension] = [ValidDateTimes, Authorize, StorableStrings]
    config = StrawberryConfig()
    if limits is not None:
        kept: Buckets = buckets or MemoryBuckets()
        checks.append(lambda: Cost(kept, limits))  # after the checks: a refusal costs nothing
        extensions += [
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            # our own depth and alias rules: strawberry's walk every path of every spread
            lambda: AddValidationRules(
                [max_depth(limits.max_depth), max_aliases(limits.max_aliases)]
            ),
            lambda: RateLimit(kept, limits),
        ]
        if not limits.introspection:
            extensions.append(DisableIntrospection)
        config = StrawberryConfig(
            batching_config={"max_operations": limits.max_batch},
            disable_field_suggestions=not limits.field_suggestions,
        )
    suggestions = limits is None or limits.field_suggestions
    extensions += [*checks, Idempotency, lambda: ErrorPolicy(field_suggestions=suggestions)]
    return Schema(
        query=merge_types("Query", (Query, DeliveryQuery, TokenQuery, WebhookQuery)),
        mutation=merge_types(
            "Mutation", (Mutation, DeliveryMutation, TokenMutation, WebhookMutation)
        ),
        subscription=merge_types("Subscription", (Subscription, DeliverySubscription)),
        types=list(TYPES.values()),
        extensions=extensions,
        config=config,
        scalar_overrides={datetime: DateTime},
        execution_context_class=PerEventMemo,  # graphql-core leaks per event without it
    )


schema = build()
