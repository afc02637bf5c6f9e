"""The GraphQL API: types and thin resolvers over the store."""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import strawberry
from graphql import ASTValidationRule, GraphQLUnionType
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.tools import merge_types

from schema.combined import Combined
from schema.cost import Cost
from schema.deliveries import DeliveryMutation, DeliveryQuery, DeliverySubscription
from schema.document import DOCUMENTS, max_aliases, max_depth
from schema.errors import ErrorPolicy, Schema
from schema.executor import PerEventMemo
from schema.idempotency import Idempotency
from schema.limits import Buckets, Limits, MemoryBuckets, RateLimit
from schema.mutations import KindMutation, Mutation
from schema.permissions import Authorize
from schema.queries import Query
from schema.readcache import ReadCache
from schema.subscriptions import Subscription
from schema.tokens import TokenMutation, TokenQuery
from schema.types import TYPES
from schema.unions import resolve_by_class
from schema.values import DateTime, StorableStrings, ValidDateTimes
from schema.webhooks import WebhookMutation, WebhookQuery

Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


class Names(NameConverter):
    """strawberry's names, each field's GraphQL name made once: strawberry converts a
    mutation's input to its Python type on every request, naming each of its fields again
    (`to_camel_case`; py-spy: about 1% of a create's event loop). The names are the
    schema's own, so the memo is as bounded as the schema."""

    def __init__(self) -> None:
        super().__init__()
        self.made: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        found = self.made.get(name)
        if found is None:
            found = self.made[name] = super().apply_naming_config(name)
        return found


def build(
    limits: Limits | None = None,
    buckets: Buckets | None = None,
    outer: Sequence[Extension] = (),
    kinds: type = KindMutation,
    types: Iterable[type] = TYPES.values(),
    reads: ReadCache | None = None,
) -> strawberry.Schema:
    """The schema. Roles are always enforced and unexpected errors always masked; `limits`
    (from the server's settings) add the rest, with the rate and cost budgets kept in
    `buckets` (in this process unless given). Tests at the GraphQL layer go without.
    `outer` extensions (the server's metrics and traces) wrap all the others; `reads`
    serves repeated queries from memory, after every check has run. `kinds` (the kinds'
    create and update mutations) and `types` (their output types) default to those of
    store/kinds.py; a test passes more to add a kind of its own."""
    # Parsing and validation, once per distinct document text: a polled query is parsed and
    # validated on its first request only. Both caches are bounded, as documents come from
    # clients. The validation cache is keyed by (schema, document, rules), so the rules
    # below are made once, not per request. These and what runs around execution run as
    # one extension (schema/combined.py), outermost first: strawberry pays per hook.
    parts: list[Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=DOCUMENTS),
        lambda: ValidationCache(maxsize=DOCUMENTS),
    ]
    around: list[Callable[[], SchemaExtension]] = [Authorize, StorableStrings]
    config = StrawberryConfig(name_converter=Names())
    if limits is not None:
        kept: Buckets = buckets or MemoryBuckets()
        around.insert(0, lambda: RateLimit(kept, limits))
        around.append(lambda: Cost(kept, limits))  # after the checks: a refusal costs nothing
        # our own depth and alias rules: strawberry's walk every path of every spread
        rules: list[type[ASTValidationRule]] = [
            max_depth(limits.max_depth),
            max_aliases(limits.max_aliases),
        ]
        parts += [
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: AddValidationRules(rules),
        ]
        if not limits.introspection:
            parts.append(DisableIntrospection)
        config = StrawberryConfig(
            batching_config={"max_operations": limits.max_batch},
            disable_field_suggestions=not limits.field_suggestions,
            name_converter=Names(),
        )
    suggestions = limits is None or limits.field_suggestions
    around.append(Idempotency)
    if reads is not None:
        around.append(reads.extension())
    parts += [ValidDateTimes, *around]
    extensions: list[Extension] = [
        *outer,
        lambda: Combined(parts),
        # on its own: it also masks each result of a stream (`on_stream_result`)
        lambda: ErrorPolicy(field_suggestions=suggestions),
    ]
    made = Schema(
        query=merge_types("Query", (Query, DeliveryQuery, TokenQuery, WebhookQuery)),
        mutation=merge_types(
            "Mutation", (kinds, Mutation, DeliveryMutation, TokenMutation, WebhookMutation)
        ),
        subscription=merge_types("Subscription", (Subscription, DeliverySubscription)),
        types=list(types),
        extensions=extensions,
        config=config,
        scalar_overrides={datetime: DateTime},
        execution_context_class=PerEventMemo,  # graphql-core leaks per event without it
    )
    union = made._schema.get_type("Communication")
    assert isinstance(union, GraphQLUnionType)
    resolve_by_class(union)
    return made


schema = build()
