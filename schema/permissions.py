"""Who may call what: one table from each root field to the least role that may call it,
enforced for every operation by the `Authorize` extension before anything executes.

A root field missing from the table is refused to everyone (and the role matrix test
fails), so a new field cannot ship without a decision here. Roles and which covers which
live in `store/tokens.py`: viewer < editor < admin, sender beside editor.
"""

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from schema.document import Shapes
from store.tokens import ApiRole, covers

V, E, S, A = ApiRole.VIEWER, ApiRole.EDITOR, ApiRole.SENDER, ApiRole.ADMIN

REQUIRED: dict[OperationType, dict[str, ApiRole]] = {
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
        **dict.fromkeys(
            [
                "createEmailCampaign",
                "createSmsCampaign",
                "createWebPushCampaign",
                "createMobilePushCampaign",
                "createDynamicContent",
                "createInAppMessage",
                "createScreenView",
                "createLandingPage",
                "updateEmailCampaign",
                "updateSmsCampaign",
                "updateWebPushCampaign",
                "updateMobilePushCampaign",
                "updateDynamicContent",
                "updateInAppMessage",
                "updateScreenView",
                "updateLandingPage",
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
            "authentication required: send an API token", extensions={"code": "UNAUTHENTICATED"}
        )
    needed = required(operation, field)
    if needed is None:
        return GraphQLError(f"{field} is not open to any role", extensions={"code": "FORBIDDEN"})
    if not covers(role, needed):
        return GraphQLError(
            f"the {role} role may not call {field}; it needs {needed}",
            extensions={"code": "FORBIDDEN", "requiredRole": needed.value},
        )
    return None


class Authorize(SchemaExtension):
    """Refuses the whole operation, before it executes, if any root field it selects is
    beyond the caller's role."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        operations = [
            d
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
            and (
                context.operation_name is None
                or (d.name and d.name.value == context.operation_name)
            )
        ]
        role = getattr(context.context, "role", None)
        for operation in operations[:1]:
            kind = OperationType(operation.operation.value)
            # every root field it selects, through fragments, `@skip`/`@include` ignored:
            # what could run is checked; each fragment is looked at once
            for field in sorted(Shapes(document).of(operation.selection_set).fields):
                if error := refusal(role, kind, field):
                    raise error
        yield
