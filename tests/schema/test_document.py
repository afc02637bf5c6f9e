"""Checks over the document see each fragment once: documents whose fragments spread the
next one several times (2^30 paths and more in under a kilobyte) are checked in time
linear in their size, and their depth, aliases and root fields are counted as if every
path had been walked."""

from dataclasses import dataclass

import pytest
from graphql import parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema import build
from schema.context import Context
from schema.document import Shapes, operations
from schema.limits import Limits
from store import Store
from store.tokens import ApiRole

LIMITS = Limits(
    max_depth=12,
    max_aliases=30,
    max_tokens=5000,
    max_batch=10,
    rate=1000.0,
    burst=1000,
    introspection=True,
    field_suggestions=True,
)
LIMITED = build(LIMITS)

# what the last fragment selects: (text, its depth, its aliases, its root fields, its cost)
LEAVES = [
    ("__typename", 0, 0, {"__typename"}, 0),
    ("a: __typename", 0, 1, {"__typename"}, 0),
    ("statusCounts { count }", 1, 0, {"statusCounts"}, 1),
    ("communications(first: 1) { edges { node { __typename } } }", 3, 0, {"communications"}, 3),
    ("apiTokens { n: name }", 1, 1, {"apiTokens"}, 1),
]


@dataclass(frozen=True)
class Doubling:
    """fragment F0 spreads F1 `fanout` times, F1 spreads F2 ..., F`levels` is the leaf."""

    levels: int
    fanout: int
    leaf: int
    inline: bool  # spreads wrapped in `... on Query { }`

    @property
    def text(self) -> str:
        parts = ["query Doubling { ...F0 }"]
        for i in range(self.levels):
            spread = f"...F{i + 1}"
            if self.inline:
                spread = f"... on Query {{ {spread} }}"
            parts.append(f"fragment F{i} on Query {{ {' '.join([spread] * self.fanout)} }}")
        parts.append(f"fragment F{self.levels} on Query {{ {LEAVES[self.leaf][0]} }}")
        return "\n".join(parts)


doublings = st.builds(
    Doubling,
    levels=st.integers(20, 60),
    fanout=st.integers(2, 4),
    leaf=st.integers(0, len(LEAVES) - 1),
    inline=st.booleans(),
)


@given(doc=doublings)
def test_shapes_count_every_path_without_walking_them(doc: Doubling) -> None:
    """Depth, aliases (once per path) and root fields of a document with fanout^levels
    paths come out exact, computed per fragment."""
    document = parse(doc.text)
    [operation] = operations(document)
    shape = Shapes(document).of(operation.selection_set)
    _, depth, aliases, fields, _ = LEAVES[doc.leaf]
    assert shape.depth == depth
    assert shape.aliases == aliases * doc.fanout**doc.levels
    assert shape.fields == fields


@pytest.mark.parametrize("role", [ApiRole.VIEWER, ApiRole.ADMIN])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=doublings)
async def test_exponential_documents_are_refused_or_answered(
    doc: Doubling, role: ApiRole, store: Store
) -> None:
    """Through the whole limited schema, every such document comes back: refused for its
    aliases, its role or its cost, or answered; never stuck and never an unexpected error."""
    result = await LIMITED.execute(
        doc.text, context_value=Context(store=store, actor="attacker", role=role)
    )
    _, _, aliases, fields, cost = LEAVES[doc.leaf]
    messages = [e.message for e in result.errors or []]
    paths = doc.fanout**doc.levels
    if aliases:
        assert messages == [f"{aliases * paths} aliases found. Allowed: 30"]
    elif "apiTokens" in fields and role is ApiRole.VIEWER:
        assert messages == ["the viewer role may not call apiTokens; it needs admin"]
    elif cost:
        assert [e.extensions["code"] for e in result.errors or []] == ["COST_EXCEEDED"]
        assert result.errors and result.errors[0].extensions["cost"] == cost * paths
    else:
        assert messages == [] and result.data is not None


async def test_depth_counts_through_fragments_and_unknown_fragments_are_refused(
    store: Store,
) -> None:
    """A selection nested too deep through fragments is refused with the depth limit; a
    spread of a fragment that does not exist is a validation error, not a crash."""
    context = Context(store=store, actor="t", role=ApiRole.ADMIN)
    nested = "communications { edges { node { ...N } } }"
    deep = "query Deep { ...A } fragment A on Query { " + nested + " } "
    deep += "fragment N on EmailCampaign { history { edges { node { ...M } } } } "
    deep += "fragment M on StatusChange { communicationId }"
    shallow = build(LIMITS.__class__(**{**LIMITS.__dict__, "max_depth": 5}))
    refused = await shallow.execute(deep, context_value=context)
    assert [e.message for e in refused.errors or []] == [
        "'Deep' exceeds maximum operation depth of 5"
    ]
    unknown = await LIMITED.execute("{ ...Nowhere }", context_value=context)
    assert [e.message for e in unknown.errors or []] == ["Unknown fragment 'Nowhere'."]
