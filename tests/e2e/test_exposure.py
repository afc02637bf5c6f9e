"""What the server shows and to whom: GraphiQL, introspection and field suggestions can be
switched off for production; CORS and the websocket Origin allowlist come from one
setting; no mutation over GET and no POST a browser could send cross-site unasked."""

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import SHARED_SERVER, Server, StartServer, raw_ws

pytestmark = pytest.mark.e2e

INTROSPECT = "{ __schema { queryType { name } } }"
TYPO = "{ communicationz { totalCount } }"
DASHBOARD = "https://dash.example.com"


async def post(server: Server, query: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(server.http_url, json={"query": query})


@SHARED_SERVER
async def test_local_defaults_show_graphiql_introspection_and_suggestions(
    shared_server: Server,
) -> None:
    """Out of the box (a local session) GraphiQL, introspection and suggestions are on."""
    async with httpx.AsyncClient() as client:
        page = await client.get(shared_server.http_url, headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert (await post(shared_server, INTROSPECT)).json()["data"]["__schema"]["queryType"][
        "name"
    ] == "Query"
    assert "Did you mean" in (await post(shared_server, TYPO)).text


async def test_production_switches_hide_graphiql_introspection_and_suggestions(
    start_server: StartServer,
) -> None:
    """COMMPULSE_GRAPHIQL, COMMPULSE_INTROSPECTION and COMMPULSE_FIELD_SUGGESTIONS off: no
    IDE page (404), introspection refused, no "Did you mean" in any error."""
    server = await start_server(
        COMMPULSE_GRAPHIQL="off", COMMPULSE_INTROSPECTION="off", COMMPULSE_FIELD_SUGGESTIONS="off"
    )
    async with httpx.AsyncClient() as client:
        page = await client.get(server.http_url, headers={"accept": "text/html"})
    assert page.status_code == 404
    errors = (await post(server, INTROSPECT)).json()["errors"]
    assert errors and all("introspection" in e["message"].lower() for e in errors), errors
    assert (await post(server, "{ __typename }")).json()["data"] == {"__typename": "Query"}
    for query in (TYPO, "{ communications(frist: 1) { totalCount } }", "{ statusCounts { cont } }"):
        body = (await post(server, query)).json()
        assert body["errors"] and "Did you mean" not in str(body), body


async def test_cors_and_websocket_origins_come_from_one_setting(start_server: StartServer) -> None:
    """COMMPULSE_ALLOWED_ORIGINS lets the listed origin read HTTP responses (CORS, with the
    Authorization header) and open websockets; other origins get neither."""
    server = await start_server(COMMPULSE_ALLOWED_ORIGINS=DASHBOARD)
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    async with httpx.AsyncClient() as client:
        allowed = await client.options(server.http_url, headers=preflight | {"origin": DASHBOARD})
        other = await client.options(
            server.http_url, headers=preflight | {"origin": "https://evil.example"}
        )
        read = await client.post(
            server.http_url, json={"query": "{ __typename }"}, headers={"origin": DASHBOARD}
        )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert read.headers["access-control-allow-origin"] == DASHBOARD
    async with raw_ws(server, origin=DASHBOARD):  # type: ignore[arg-type]
        pass
    with pytest.raises(InvalidStatus) as refused:
        async with raw_ws(server, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403


@SHARED_SERVER
async def test_no_mutation_over_get_and_no_simple_cross_site_posts(shared_server: Server) -> None:
    """A mutation in a GET is refused; a POST with a content type that needs no CORS
    preflight (a form, text/plain, none) is refused with 415 before anything runs."""
    mutation = 'mutation { deleteCommunication(id: "bogus") { deletedId } }'
    body = '{"query": "mutation { deleteCommunication(id: \\"bogus\\") { deletedId } }"}'
    async with httpx.AsyncClient() as client:
        get = await client.get(shared_server.http_url, params={"query": mutation})
        assert get.status_code in (400, 405)
        assert "mutations are not allowed" in get.text
        for content_type in (
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ):
            response = await client.post(
                shared_server.http_url, content=body, headers={"content-type": content_type}
            )
            assert response.status_code == 415, content_type
        bare = await client.post(shared_server.http_url, content=body)
        assert bare.status_code == 415
        query = await client.get(shared_server.http_url, params={"query": "{ __typename }"})
        assert query.json()["data"] == {"__typename": "Query"}
