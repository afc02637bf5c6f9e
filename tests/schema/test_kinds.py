"""The kinds are declared once (store/kinds.py); the API follows from them."""

from typing import Any, get_args

import strawberry
from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLUnionType

from schema import build, ids, schema
from schema.enums import STATUS_ENUMS, status_enum
from schema.mutations import kind_mutations
from schema.permissions import table
from schema.types import TYPES, CommunicationUnion, MessageCampaign, to_graphql
from server.seed import EXAMPLES
from store.kinds import SPECS, Family, Rule, Spec, text
from store.lifecycle import Kind
from store.tables import filled
from store.tokens import ApiRole

INTERFACES = {
    Family.MESSAGE: ["Node", "CommunicationBase", "MessageCampaign"],
    Family.DISPLAY: ["Node", "CommunicationBase", "DisplayCommunication"],
    Family.PAGE: ["Node", "CommunicationBase"],
}

POSTCARD = Spec(
    "POSTCARD",
    "Postcard",
    Family.MESSAGE,
    (text("address", 500, required=True), Rule("picture_url", max_length=2_000)),
    channel="postcard",
)


@strawberry.type
class Postcard(MessageCampaign):
    status: Any = strawberry.field(graphql_type=status_enum(POSTCARD))
    address: str
    picture_url: str | None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_each_output_type_matches_its_spec() -> None:
    """A kind's type has its family's interfaces, its own status enum, and exactly its spec's
    content fields: required ones non-null."""
    for kind, spec in SPECS.items():
        found = schema._schema.type_map[spec.name]
        assert isinstance(found, GraphQLObjectType)
        assert TYPES[kind].__strawberry_definition__.name == spec.name  # type: ignore[attr-defined]
        assert sorted(i.name for i in found.interfaces) == sorted(INTERFACES[spec.family])
        inherited = set().union(*(i.fields for i in found.interfaces))
        own = {name: field.type for name, field in found.fields.items() if name not in inherited}
        assert str(own.pop("status")) == f"{spec.name}Status!"
        assert {name: isinstance(t, GraphQLNonNull) for name, t in own.items()} == {
            _camel(rule.name): rule.required for rule in spec.fields
        }, spec.name


def test_the_union_holds_every_kind_once() -> None:
    """Communication's members are the kinds' output types, no more."""
    union = schema._schema.type_map["Communication"]
    assert isinstance(union, GraphQLUnionType)
    assert sorted(t.name for t in union.types) == sorted(s.name for s in SPECS.values())
    assert set(get_args(get_args(CommunicationUnion)[0])) == set(TYPES.values())


def test_every_kind_has_a_seed_example() -> None:
    """A fresh `make run` shows every kind."""
    assert {kind for kind, *_ in EXAMPLES} == set(SPECS)


def test_a_new_kind_is_one_spec_and_one_output_type() -> None:
    """A schema built with a made-up kind has its inputs, mutations, status enum and
    permission entries; the served schema is left as it was."""
    before = schema.as_str()
    specs = [*SPECS.values(), POSTCARD]
    built = build(kinds=kind_mutations(specs), types=[*TYPES.values(), Postcard]).as_str()
    for line in (
        "createPostcard(input: CreatePostcardInput!): CommunicationPayload!",
        "updatePostcard(input: UpdatePostcardInput!): CommunicationPayload!",
        "type Postcard implements MessageCampaign & CommunicationBase & Node {",
        "enum PostcardStatus {",
        "  address: String!",
        "  pictureUrl: String",
    ):
        assert line in built, line
    create = built[built.index("input CreatePostcardInput {") :]
    assert create[: create.index("}")].split("\n")[-3:-1] == [
        "  address: String!",
        "  pictureUrl: String",
    ]
    required = table(specs)[strawberry.types.graphql.OperationType.MUTATION]
    assert required["createPostcard"] is required["updatePostcard"] is ApiRole.EDITOR
    assert schema.as_str() == before and "Postcard" not in before


def test_a_column_not_in_the_row_is_read_through_the_orm() -> None:
    """A field whose column the row does not hold (a row not read whole) answers what the
    ORM gives for it; the others are read from the row."""
    row = filled({"id": 7, "kind": "IN_APP", "origin": "CAMPAIGN", "status": "DRAFT"})
    made = to_graphql(row)
    assert made.id == ids.communication_id(7)
    assert made.name is None and row.name is None
    assert made.status is STATUS_ENUMS[Kind.IN_APP]["DRAFT"]
