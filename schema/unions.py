"""The members of the Communication union, told apart by class (schema/__init__.py installs
it as the union's `resolve_type`; schema/plans.py asks it directly)."""

from typing import Any

from graphql import GraphQLAbstractType, GraphQLResolveInfo, GraphQLUnionType
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.cast import get_strawberry_type_cast


class ByClass:
    """A union's members found by the object's class, in one lookup. Strawberry's own
    resolver (kept, for any other object) tries the members in turn: with eight, about 3%
    of a page of 50. Same answer: an object of exactly a member's class, not cast
    (`strawberry.cast`), is that member for strawberry too."""

    def __init__(self, union: GraphQLUnionType) -> None:
        walk = union.resolve_type
        assert walk is not None
        self.walk = walk
        origin = GraphQLCoreConverter.DEFINITION_BACKREF
        self.names = {member.extensions[origin].origin: member.name for member in union.types}

    def name(self, root: Any) -> str | None:
        """The member `root` is when its class alone tells; None for strawberry's resolver."""
        name = self.names.get(type(root))
        return None if name is None or get_strawberry_type_cast(root) is not None else name

    def __call__(
        self, root: Any, info: GraphQLResolveInfo[Any], abstract: GraphQLAbstractType
    ) -> Any:
        name = self.name(root)
        return self.walk(root, info, abstract) if name is None else name


def resolve_by_class(union: GraphQLUnionType) -> None:
    union.resolve_type = ByClass(union)
