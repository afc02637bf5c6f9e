"""The role matrix: every query, mutation and subscription of the live schema, called with
a token of every role and with none, against a real server. Each call names the least role
that may make it; a field of the schema without a call here fails the test."""

import httpx
import pytest
from graphql import GraphQLObjectType, build_schema

from schema import schema
from store.tokens import ApiRole, covers
from tests.e2e.conftest import (
    LEGACY_WS,
    Json,
    StartServer,
    bearer,
    close_code,
    init,
    make_token,
    raw_ws,
    receive,
    send,
)

pytestmark = pytest.mark.e2e

V, E, S, A = ApiRole.VIEWER, ApiRole.EDITOR, ApiRole.SENDER, ApiRole.ADMIN
ID = '(id: "bogus")'  # names nothing: an allowed call is answered NOT_FOUND and changes nothing
BLANK = 'name: " "'  # a blank name: an allowed create is refused as INVALID_INPUT

# (root type, field) -> (arguments, the least role that may call it)
CALLS: dict[tuple[str, str], tuple[str, ApiRole]] = {
    ("Query", "viewer"): ("", V),
    ("Query", "node"): (ID, V),
    ("Query", "communication"): (ID, V),
    ("Query", "communications"): ("(first: 1)", V),
    ("Query", "statusCounts"): ("", V),
    ("Query", "deliveryEvents"): ('(communicationId: "bogus")', V),
    ("Query", "leasedRecipients"): ('(leaseIds: ["bogus"])', S),
    ("Query", "apiTokens"): ("", A),
    ("Query", "webhookEndpoints"): ("", A),
    ("Query", "webhookDeliveries"): ('(endpointId: "bogus")', A),
    ("Mutation", "createEmailCampaign"): (f'(input: {{{BLANK}, subject: "s"}})', E),
    ("Mutation", "createSmsCampaign"): (f'(input: {{{BLANK}, text: "t"}})', E),
    ("Mutation", "createWebPushCampaign"): (f'(input: {{{BLANK}, title: "t"}})', E),
    ("Mutation", "createMobilePushCampaign"): (f'(input: {{{BLANK}, title: "t"}})', E),
    ("Mutation", "createDynamicContent"): (f'(input: {{{BLANK}, placement: "p"}})', E),
    ("Mutation", "createInAppMessage"): (f'(input: {{{BLANK}, title: "t"}})', E),
    ("Mutation", "createScreenView"): (f'(input: {{{BLANK}, screen: "s"}})', E),
    ("Mutation", "createLandingPage"): (f'(input: {{{BLANK}, slug: "s", title: "t"}})', E),
    **{
        ("Mutation", f"update{kind}"): ('(input: {id: "bogus"})', E)
        for kind in (
            "EmailCampaign",
            "SmsCampaign",
            "WebPushCampaign",
            "MobilePushCampaign",
            "DynamicContent",
            "InAppMessage",
            "ScreenView",
            "LandingPage",
        )
    },
    ("Mutation", "scheduleCommunication"): ('(id: "bogus", startAt: "2030-01-01T00:00:00Z")', E),
    ("Mutation", "unscheduleCommunication"): (ID, E),
    ("Mutation", "launchCommunication"): (ID, E),
    ("Mutation", "pauseCommunication"): (ID, E),
    ("Mutation", "resumeCommunication"): (ID, E),
    ("Mutation", "publishLandingPage"): (ID, E),
    ("Mutation", "unpublishLandingPage"): (ID, E),
    ("Mutation", "stopCommunication"): (ID, E),
    ("Mutation", "addRecipients"): ('(id: "bogus", recipients: ["p1"])', E),
    ("Mutation", "duplicateCommunication"): (ID, E),
    ("Mutation", "deleteCommunication"): (ID, E),
    ("Mutation", "failCommunication"): ('(id: "bogus", reason: "r")', S),
    ("Mutation", "claimRecipients"): ('(communicationId: "bogus", limit: 1, workerId: "w")', S),
    ("Mutation", "reportDeliveries"): ('(communicationId: "bogus", results: [])', S),
    ("Mutation", "claimNext"): ('(kinds: [EMAIL], limit: 1, workerId: "w")', S),
    ("Mutation", "renewLeases"): ('(communicationId: "bogus", recipients: [])', S),
    ("Mutation", "releaseRecipients"): ('(communicationId: "bogus", recipients: [])', S),
    ("Mutation", "recordDisplayEvents"): ('(id: "bogus", events: [])', S),
    ("Mutation", "recordProviderEvents"): ("(events: [])", S),
    ("Mutation", "createApiToken"): ('(name: "made-in-matrix", role: VIEWER)', A),
    ("Mutation", "revokeApiToken"): ('(name: "nobody")', A),
    ("Mutation", "createWebhookEndpoint"): ('(input: {url: "nope"})', A),
    ("Mutation", "deleteWebhookEndpoint"): (ID, A),
    ("Mutation", "replayWebhookEndpoint"): (ID, A),
    ("Subscription", "statusChanged"): ('(after: "bogus")', V),
    ("Subscription", "communication"): (ID, V),
    ("Subscription", "sendingProgress"): (ID, V),
}

REFUSED = {"FORBIDDEN", "UNAUTHENTICATED"}


def root_fields() -> set[tuple[str, str]]:
    live = build_schema(schema.as_str())
    roots: list[GraphQLObjectType | None] = [
        live.query_type,
        live.mutation_type,
        live.subscription_type,
    ]
    return {(root.name, field) for root in roots if root for field in root.fields}


def document(root: str, field: str) -> str:
    arguments, _ = CALLS[(root, field)]
    return f"{root.lower()} {{ {field}{arguments} {{ __typename }} }}"


def codes(errors: list[Json] | None) -> set[str]:
    return {(e.get("extensions") or {}).get("code", "") for e in errors or []}


def test_every_root_field_has_a_call_in_the_matrix() -> None:
    """A query, mutation or subscription added without a decision here fails."""
    assert set(CALLS) == root_fields()


async def test_every_role_may_call_exactly_what_its_role_covers(start_server: StartServer) -> None:
    """Each role's token is allowed what the table grants it and FORBIDDEN the rest, over
    HTTP for queries and mutations and over websockets for subscriptions."""
    server = await start_server(COMMPULSE_AUTH="on")
    tokens = {role: await make_token(server, f"matrix-{role}", role) for role in ApiRole}
    outcomes: dict[tuple[str, str, ApiRole], bool] = {}
    async with httpx.AsyncClient() as client:
        for (root, field), (_, _least) in CALLS.items():
            if root == "Subscription":
                continue
            for role, token in tokens.items():
                response = await client.post(
                    server.http_url, json={"query": document(root, field)}, headers=bearer(token)
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert "INTERNAL_SERVER_ERROR" not in codes(body.get("errors")), body
                refused = bool(codes(body.get("errors")) & REFUSED)
                if refused:
                    assert body["data"] is None and codes(body["errors"]) == {"FORBIDDEN"}
                outcomes[(root, field, role)] = not refused
    for (root, field), _ in CALLS.items():
        if root != "Subscription":
            continue
        for role, token in tokens.items():
            async with raw_ws(server) as ws:
                await init(ws, {"token": token})
                await send(
                    ws,
                    {"id": "1", "type": "subscribe", "payload": {"query": document(root, field)}},
                )
                message = await receive(ws)
                errors = (
                    message["payload"]
                    if message["type"] == "error"
                    else message["payload"].get("errors")
                )
                assert "INTERNAL_SERVER_ERROR" not in codes(errors), message
                outcomes[(root, field, role)] = not codes(errors) & REFUSED
    expected = {
        (root, field, role): covers(role, least)
        for (root, field), (_, least) in CALLS.items()
        for role in ApiRole
    }
    wrong = {key: allowed for key, allowed in outcomes.items() if expected[key] != allowed}
    assert wrong == {}, "allowed (True) or refused (False) against the matrix"
    async with httpx.AsyncClient() as client:
        for role, token in tokens.items():
            body = await post_viewer(client, server.http_url, bearer(token))
            assert body == {"data": {"viewer": {"name": f"matrix-{role}", "role": role.name}}}


VIEWER = "query { viewer { name role } }"


async def post_viewer(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Json:
    response = await client.post(url, json={"query": VIEWER}, headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    body.pop("extensions", None)  # the cost
    return body


async def test_viewer_without_auth_is_the_local_admin(start_server: StartServer) -> None:
    """With auth off everyone is `local`, an admin, and `viewer` says so."""
    server = await start_server(COMMPULSE_AUTH="off")
    async with httpx.AsyncClient() as client:
        body = await post_viewer(client, server.http_url, {})
    assert body == {"data": {"viewer": {"name": "local", "role": "ADMIN"}}}


async def test_without_a_token_nothing_is_served(start_server: StartServer) -> None:
    """No token: every query and mutation is 401 over HTTP, and a websocket is closed at
    connection_init (4403; legacy graphql-ws: connection_error) before any subscription."""
    server = await start_server(COMMPULSE_AUTH="on")
    async with httpx.AsyncClient() as client:
        for root, field in CALLS:
            if root == "Subscription":
                continue
            response = await client.post(server.http_url, json={"query": document(root, field)})
            assert response.status_code == 401, (root, field)
            assert codes(response.json()["errors"]) == {"UNAUTHENTICATED"}
    for root, field in CALLS:
        if root != "Subscription":
            continue
        async with raw_ws(server) as ws:
            await send(ws, {"type": "connection_init", "payload": {}})
            await send(
                ws, {"id": "1", "type": "subscribe", "payload": {"query": document(root, field)}}
            )
            assert await close_code(ws) == 4403
        async with raw_ws(server, LEGACY_WS) as ws:
            await send(ws, {"type": "connection_init", "payload": {}})
            assert (await receive(ws))["type"] == "connection_error"
