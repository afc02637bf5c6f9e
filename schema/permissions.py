"""Who may call what: one table from each root field to the least role that may call it,
enforced for every operation by the `Authorize` extension before anything executes.

A root field missing from the table is refused to everyone (and the role matrix test
fails), so a new field cannot ship without a decision here. Roles and which covers which
live in `store/tokens.py`: viewer < editor < admin, sender beside editor.
"""

from collections.abc import Iterable, Iterator

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from schema.document import Shapes, once, operations
from schema.errors import Code
from schema.mutations import kind_mutation_names
from store.kinds import SPECS, Spec
from store.tokens import ApiRole, covers

V, E, S, A = ApiRole.VIEWER, ApiRole.EDITOR, ApiRole.SENDER, ApiRole.ADMIN


def table(specs: Iterable[Spec]) -> dict[OperationType, dict[str, ApiRole]]:
    """The table for a schema with these kinds: each kind's create and update are editors'."""
    return {
        OperationType.QUERY: {
            "viewer": V,
            "node": V,
            "communication": V,
            "communications": V,
            "statusCounts": V,
            "deliveryEvents": V,
            "leasedRecipients": S,
            "apiTokens": A,
            "webhookEndpoints": A,
            "webhookDeliveries": A,
        },
        OperationType.MUTATION: {
            **dict.fromkeys(kind_mutation_names(specs), E),
            **dict.fromkeys(
                [
                    "scheduleCommunication",
                    "unscheduleCommunication",
                    "launchCommunication",
                    "pauseCommunication",
                    "resumeCommunication",
                    "publishLandingPage",
                    "unpublishLandingPage",
                    "stopCommunication",
                    "addRecipients",
                    "duplicateCommunication",
                    "deleteCommunication",
                ],
                E,
            ),
            # the worker API: delivery workers and display channels report, and fail
            "claimRecipients": S,
            "claimNext": S,
            "renewLeases": S,
            "releaseRecipients": S,
            "reportDeliveries": S,
            "recordProviderEvents": S,
            "recordDisplayEvents": S,
            "failCommunication": S,
            "createApiToken": A,
            "revokeApiToken": A,
            "createWebhookEndpoint": A,
            "deleteWebhookEndpoint": A,
            "replayWebhookEndpoint": A,
        },
        OperationType.SUBSCRIPTION: {
            "statusChanged": V,
            "communication": V,
            "sendingProgress": V,
        },
    }


REQUIRED = table(SPECS.values())

META = frozenset({"__typename", "__schema", "__type"})  # introspection has its own switch


def required(operation: OperationType, field: str) -> ApiRole | None:
    """The least role that may call this root field; None: nobody may (not in the table)."""
    return REQUIRED.get(operation, {}).get(field)


def refusal(role: ApiRole | None, operation: OperationType, field: str) -> GraphQLError | None:
    """Why this role may not call this root field, or None if it may."""
    if field in META:
        return None
    if role is None:
        return GraphQLError(
            "authentication required: send an API token", extensions={"code": Code.UNAUTHENTICATED}
        )
    needed = required(operation, field)
    if needed is None:
        return GraphQLError(f"{field} is not open to any role", extensions={"code": Code.FORBIDDEN})
    if not covers(role, needed):
        return GraphQLError(
            f"the {role} role may not call {field}; it needs {needed}",
            extensions={"code": Code.FORBIDDEN, "requiredRole": needed.value},
        )
    return None


class Authorize(SchemaExtension):
    """Refuses the whole operation, before it executes, if any root field it selects is
    beyond the caller's role."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        role = getattr(context.context, "role", None)
        if error := refused(document, context.operation_name, role):
            raise error
        yield


def refused(document: DocumentNode, name: str | None, role: ApiRole | None) -> GraphQLError | None:
    """Why this role may not run the operation `name` of the document, or None if it may
    (Authorize; and server/reads.py, which runs a known query without strawberry)."""
    for kind, fields in once(document, f"roots {name}", lambda d: _roots(d, name)):
        for field in fields:
            if error := refusal(role, kind, field):
                return error
    return None


def _roots(document: DocumentNode, name: str | None) -> list[tuple[OperationType, list[str]]]:
    """The kind of the operation that runs and every root field it selects, through
    fragments, `@skip`/`@include` ignored: what could run is checked; each fragment is
    looked at once. Remembered per document (`once`): limit checks run once per document."""
    chosen = [o for o in operations(document) if name is None or (o.name and o.name.value == name)]
    return [
        (OperationType(o.operation.value), sorted(Shapes(document).of(o.selection_set).fields))
        for o in chosen[:1]
    ]
