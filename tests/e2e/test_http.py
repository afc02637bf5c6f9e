"""The HTTP side of the server: GraphiQL, GET queries, the list cap, the README's union
query, and which origins may open a websocket."""

import httpx
import pytest
from gql.transport.exceptions import TransportQueryError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import (
    CREATE_LANDING_PAGE,
    PUBLISH,
    SHARED_SERVER,
    TRANSPORT_WS,
    Server,
    StartServer,
    act,
    create_email,
    execute,
    http_session,
    ok,
)

pytestmark = pytest.mark.e2e

# The README shows this query (verbatim): `status` has its own enum on each member of the
# union, so a selection that reads it on several members aliases it once per member.
README_UNION_QUERY = """
query {
  communications(first: 20, filter: {kinds: [EMAIL, LANDING_PAGE]}) {
    totalCount
    edges {
      cursor
      node {
        ... on CommunicationBase { id name kind availableActions }
        ... on EmailCampaign { emailStatus: status subject sentCount }
        ... on LandingPage { pageStatus: status slug }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
  statusCounts { kind status count }
}
"""

# the same query with the aliases taken out
UNALIASED_UNION_QUERY = README_UNION_QUERY.replace("emailStatus: ", "").replace("pageStatus: ", "")


@SHARED_SERVER
async def test_readme_union_query_needs_aliases(shared_server: Server) -> None:
    """The README's aliased union query works; without aliases it is a validation error."""
    async with http_session(shared_server) as session:
        email = await create_email(session, "Spring sale")
        page = ok(
            await execute(
                session,
                CREATE_LANDING_PAGE,
                input={"name": "Spring page", "slug": "spring", "title": "Spring"},
            ),
            "createLandingPage",
        )
        await act(session, PUBLISH, "publishLandingPage", id=page["id"])

        result = await execute(session, README_UNION_QUERY)
        nodes = {edge["node"]["id"]: edge["node"] for edge in result["communications"]["edges"]}
        assert result["communications"]["totalCount"] == 2  # no other test here creates any
        assert nodes[email["id"]]["emailStatus"] == "DRAFT"
        assert nodes[email["id"]]["kind"] == "EMAIL"
        assert nodes[page["id"]]["pageStatus"] == "PUBLISHED"
        assert nodes[page["id"]]["kind"] == "LANDING_PAGE"
        assert nodes[page["id"]]["availableActions"] == ["UNPUBLISH"]

        with pytest.raises(TransportQueryError) as refused:
            await execute(session, UNALIASED_UNION_QUERY)
    assert refused.value.data is None
    messages = [error["message"] for error in refused.value.errors or []]
    assert any("conflicting types" in message for message in messages), messages


@SHARED_SERVER
async def test_graphiql_get_queries_and_list_cap(shared_server: Server) -> None:
    """A browser gets GraphiQL, a GET query runs, and more than 100 in a page is refused."""
    async with httpx.AsyncClient() as client:
        page = await client.get(shared_server.http_url, headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()

        got = await client.get(shared_server.http_url, params={"query": "{ __typename }"})
        assert got.status_code == 200
        assert got.json()["data"] == {"__typename": "Query"}

        capped = await client.post(
            shared_server.http_url,
            json={"query": "{ communications(first: 101) { totalCount } }"},
        )
    body = capped.json()
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["INVALID_INPUT"]


async def _handshake(server: Server, origin: str) -> str | None:
    """Open a websocket from a page on `origin` and finish the graphql-transport-ws init."""
    async with connect(server.ws_url, origin=origin, subprotocols=[TRANSPORT_WS]) as ws:
        await ws.send('{"type": "connection_init"}')
        ack = await ws.recv()
        assert '"connection_ack"' in str(ack)
        return ws.subprotocol


async def test_cross_origin_websocket_needs_an_allowed_origin(start_server: StartServer) -> None:
    """A page on another origin may open a websocket only if COMMPULSE_ALLOWED_ORIGINS lists it."""
    server = await start_server(COMMPULSE_ALLOWED_ORIGINS="http://dash.example")

    assert await _handshake(server, "http://dash.example") == TRANSPORT_WS

    with pytest.raises(InvalidStatus) as refused:
        await _handshake(server, "http://evil.example")
    assert refused.value.response.status_code == 403


@SHARED_SERVER
async def test_cross_origin_websocket_refused_by_default(shared_server: Server) -> None:
    """With no allowed origins, a cross-origin handshake is refused and a same-origin one is not."""
    with pytest.raises(InvalidStatus) as refused:
        await _handshake(shared_server, "http://evil.example")
    assert refused.value.response.status_code == 403

    assert await _handshake(shared_server, f"http://127.0.0.1:{shared_server.port}") == TRANSPORT_WS
