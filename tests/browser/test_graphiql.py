"""GraphiQL, as a person uses it: served from the app with nothing from another origin, a
query run, a subscription showing what a mutation made elsewhere does, and a token typed
in the page carried by HTTP requests and the websocket alike."""

import json
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from store.tokens import ApiRole
from tests.browser.conftest import SHARED_LOOP, Tab, open_tab
from tests.e2e.conftest import (
    LAUNCH,
    StartServer,
    act,
    create_email,
    http_session,
    make_token,
)

pytestmark = [pytest.mark.e2e, SHARED_LOOP]

OVERVIEW = "query Overview { statusCounts { kind status count } }"


def feed(id: str, after: str) -> str:
    return (
        f'subscription Feed {{ statusChanged(ids: ["{id}"], after: "{after}") '
        "{ communicationId action from to actor } }"
    )


async def set_query(page: Page, query: str) -> None:
    """Replace the query editor's text (GraphiQL's editors are CodeMirror 5 instances)."""
    await page.locator(".graphiql-query-editor .CodeMirror").wait_for()
    await page.evaluate(
        "q => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q)",
        query,
    )
    # GraphiQL takes the edit into its state (operation name, document) after a debounce,
    # and saves its tabs once it has: wait for that, or Run would use the old query
    await page.wait_for_function(
        "q => (JSON.parse(localStorage.getItem('graphiql:tabState') || '{}').tabs || [])"
        ".some(t => t.query === q)",
        arg=query,
    )


async def run(page: Page) -> None:
    await page.locator(".graphiql-execute-button").click()


async def response_text(page: Page) -> str:
    text: str = await page.evaluate(
        "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
    )
    return text


async def response_json(page: Page) -> Any:
    await expect(page.locator(".result-window")).to_contain_text("data")
    return json.loads(await response_text(page))


async def wait_for_response(page: Page, needle: str) -> str:
    """The response pane's text once it contains `needle`."""
    await page.wait_for_function(
        "n => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
        ".includes(n)",
        arg=needle,
    )
    return await response_text(page)


async def test_graphiql_loads_offline_queries_and_shows_subscription_events(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_SENDER="none")  # it stays SENDING
    tab: Tab = await open_tab(browser, server, "/graphql")
    page = tab.page
    await expect(page.locator(".graphiql-container")).to_be_visible()
    await expect(page.locator(".graphiql-query-editor")).to_be_visible()

    await set_query(page, OVERVIEW)
    await run(page)
    counts = (await response_json(page))["data"]["statusCounts"]
    assert {"kind": "EMAIL", "status": "DRAFT", "count": 0} in counts

    # a campaign made elsewhere; the subscription resumes after its creation, so it sees
    # every later change however soon after it starts the launch comes
    async with http_session(server) as session:
        campaign = await create_email(session, "Seen in GraphiQL", audience=5)
        created = campaign["history"]["edges"][-1]["cursor"]
        await set_query(page, feed(campaign["id"], created))
        await run(page)
        await act(session, LAUNCH, "launchCommunication", id=campaign["id"])
    shown = json.loads(await wait_for_response(page, '"SENDING"'))
    assert shown["data"]["statusChanged"] == {
        "communicationId": campaign["id"],
        "action": "LAUNCH",
        "from": "DRAFT",
        "to": "SENDING",
        "actor": "local",
    }
    await tab.screenshot("graphiql-subscription")
    tab.guard.check()
    assert any(url.startswith("ws://") for url in tab.guard.seen), tab.guard.seen
    assert tab.guard.console_errors == []


async def test_graphiql_token_goes_in_http_and_websocket_and_stays_in_the_tab(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_AUTH="on", COMMPULSE_SENDER="none")
    secret = await make_token(server, "graphiql-user", ApiRole.EDITOR)
    tab = await open_tab(browser, server, "/graphql")
    page = tab.page

    await set_query(page, OVERVIEW)
    await run(page)
    assert "UNAUTHENTICATED" in await wait_for_response(page, "UNAUTHENTICATED")

    await page.locator("#token").fill(secret)
    await page.locator("#token-form button[type=submit]").click()
    await expect(page.locator("#token-state")).to_have_text("token set")
    await set_query(page, OVERVIEW)
    await run(page)
    assert (await response_json(page))["data"]["statusCounts"]

    async with http_session(server, secret) as session:
        campaign = await create_email(session, "Token over websocket", audience=3)
        await set_query(page, feed(campaign["id"], campaign["history"]["edges"][-1]["cursor"]))
        await run(page)
        await act(session, LAUNCH, "launchCommunication", id=campaign["id"])
        shown = json.loads(await wait_for_response(page, '"LAUNCH"'))
    assert shown["data"]["statusChanged"]["actor"] == "graphiql-user"

    stored = await page.evaluate(
        "() => ({session: sessionStorage.getItem('commpulse.token'),"
        " local: JSON.stringify(Object.assign({}, localStorage))})"
    )
    assert stored["session"] == secret
    assert secret not in stored["local"]
    assert secret not in "".join(c["value"] for c in await tab.context.cookies())
    await tab.screenshot("graphiql-token")
    tab.guard.check()
