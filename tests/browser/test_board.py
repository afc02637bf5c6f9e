"""The status board at `/`, in a real browser, as the people who run campaigns use it:
changes made through the API show in the feed and the counts, a SENDING campaign's bar
moves as a worker reports, stop shows the dry run before it stops, a viewer sees no
buttons, refusals show their message, and after a server restart the feed resumes with
nothing missing. Every test also checks that no request left the server's origin."""

from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from schema.ids import communication_id
from store import changes
from store.lifecycle import Action, Kind, Trigger
from store.tokens import ApiRole
from tests import factories
from tests.browser.conftest import SHARED_LOOP, Tab, open_tab
from tests.e2e import conftest as e2e
from tests.e2e.conftest import (
    LAUNCH,
    Server,
    StartServer,
    act,
    create_email,
    create_in_app,
    execute,
    http_session,
    make_token,
    server_store,
)
from tests.e2e.test_webhooks import FAST as WEBHOOKS_FAST
from tests.e2e.test_webhooks import Receiver, create_endpoint

pytestmark = [pytest.mark.e2e, SHARED_LOOP]

CLAIM = """
mutation Claim($id: ID!, $limit: Int!) {
  claimRecipients(communicationId: $id, limit: $limit, workerId: "browser-test") {
    recipients { recipientId leaseId }
    userErrors { code message }
  }
}
"""
REPORT = """
mutation Report($id: ID!, $results: [DeliveryResultInput!]!) {
  reportDeliveries(communicationId: $id, results: $results) { userErrors { code message } }
}
"""
STATUS = """
query Status($id: ID!) {
  communication(id: $id) { ... on EmailCampaign { status notSentCount version } }
}
"""
RENAME = """
mutation Rename($input: UpdateEmailCampaignInput!) {
  updateEmailCampaign(input: $input) { userErrors { code message } }
}
"""


async def open_board(browser: Browser, server: Server, token: str | None = None) -> Tab:
    tab = await open_tab(browser, server, "/")
    if token is not None:
        await tab.page.locator("#token").fill(token)
        await tab.page.locator("#token-form button[type=submit]").click()
    await expect(tab.page.locator("body")).to_have_attribute("data-ready", "true")
    try:
        await expect(tab.page.locator("#conn")).to_have_attribute("data-state", "live")
    except AssertionError as error:
        shown = await tab.page.locator("#messages").inner_text()
        raise AssertionError(f"the board is not live; it says: {shown}") from error
    return tab


def cell(page: Page, kind: str, status: str) -> Locator:
    return page.locator(f'#counts tr[data-kind="{kind}"] td[data-status="{status}"]')


def change(page: Page, id: str, to: str) -> Locator:
    return page.locator(f'#feed li.change[data-id="{id}"][data-to="{to}"]')


def row(page: Page, id: str) -> Locator:
    return page.locator(f'#rows tr[data-id="{id}"]')


async def test_a_change_through_the_api_shows_in_feed_and_counts(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_SENDER="none")
    tab = await open_board(browser, server)
    page = tab.page
    await expect(cell(page, "EMAIL", "DRAFT")).to_have_text("0")
    await expect(page.locator("#feed-empty")).to_be_visible()

    async with http_session(server) as session:
        campaign = await create_email(session, "Black Friday", audience=40)
        await expect(change(page, campaign["id"], "DRAFT")).to_contain_text("Black Friday")
        await expect(cell(page, "EMAIL", "DRAFT")).to_have_text("1")
        await expect(row(page, campaign["id"])).to_have_attribute("data-status", "DRAFT")

        await act(session, LAUNCH, "launchCommunication", id=campaign["id"])
    launched = change(page, campaign["id"], "SENDING")
    await expect(launched).to_contain_text("launch by local")
    await expect(cell(page, "EMAIL", "SENDING")).to_have_text("1")
    await expect(cell(page, "EMAIL", "DRAFT")).to_have_text("0")
    await expect(page.locator('#counts td[data-total="SENDING"]')).to_have_text("1")
    await expect(row(page, campaign["id"])).to_have_attribute("data-status", "SENDING")
    await tab.screenshot("board-live")
    tab.guard.check()
    assert tab.guard.console_errors == []


async def test_a_sending_campaigns_bar_moves_as_reports_arrive(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_SENDER="none")  # this test is the delivery worker
    tab = await open_board(browser, server)
    page = tab.page
    async with http_session(server) as session:
        campaign = await create_email(session, "Progress", audience=100)
        await act(session, LAUNCH, "launchCommunication", id=campaign["id"])
        bar = page.locator(f'#bars .bar[data-id="{campaign["id"]}"]')
        await expect(bar).to_have_attribute("data-pending", "100")
        await expect(bar.locator(".f-sent")).to_have_text("0 sent")

        claimed = await execute(session, CLAIM, id=campaign["id"], limit=30)
        recipients = [
            {"recipientId": r["recipientId"], "leaseId": r["leaseId"]}
            for r in claimed["claimRecipients"]["recipients"]
        ]
        results: list[dict[str, Any]] = [r | {"outcome": "SENT"} for r in recipients[:25]] + [
            r | {"outcome": "NOT_SENT", "info": "bounced"} for r in recipients[25:]
        ]
        await execute(session, REPORT, id=campaign["id"], results=results)
    await expect(bar).to_have_attribute("data-sent", "25")
    await expect(bar).to_have_attribute("data-not-sent", "5")
    await expect(bar).to_have_attribute("data-pending", "70")
    await expect(bar.locator(".f-sent")).to_have_text("25 sent")
    await expect(bar.locator(".f-notsent")).to_have_text("5 not sent")
    width = await bar.locator(".seg.sent").evaluate("e => e.style.width")
    assert width == "25%"  # of the audience
    await tab.screenshot("board-sending")
    tab.guard.check()


async def test_stop_shows_the_dry_run_then_stops(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_SENDER="none")
    tab = await open_board(browser, server)
    page = tab.page
    async with http_session(server) as session:
        campaign = await create_email(session, "Too early", audience=1150)
        await act(session, LAUNCH, "launchCommunication", id=campaign["id"])
        stop = row(page, campaign["id"]).locator('button[data-action="STOP"]')

        await stop.click()  # the dry run, then a question; cancel changes nothing
        dialog = page.locator("dialog#confirm")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("1,150 recipients will get message.notSent")
        await tab.screenshot("board-stop-dry-run")
        await page.locator("#confirm-cancel").click()
        await expect(dialog).to_be_hidden()
        now = (await execute(session, STATUS, id=campaign["id"]))["communication"]
        assert (now["status"], now["notSentCount"]) == ("SENDING", 0)

        await stop.click()
        await expect(dialog).to_contain_text("1,150 recipients will get message.notSent")
        await page.locator("#confirm-input").fill("wrong audience")
        await page.locator("#confirm-ok").click()
        await expect(page.locator(".msg-ok")).to_contain_text(
            "Stopped “Too early”: 1,150 recipients got message.notSent."
        )
        await expect(change(page, campaign["id"], "STOPPED")).to_contain_text("wrong audience")
        await expect(row(page, campaign["id"])).to_have_attribute("data-status", "STOPPED")
        now = (await execute(session, STATUS, id=campaign["id"]))["communication"]
        assert (now["status"], now["notSentCount"]) == ("STOPPED", 1150)
    tab.guard.check()


async def test_a_refusal_shows_its_user_errors_message(
    start_server: StartServer, browser: Browser
) -> None:
    """The row is stale (an edit changes no status, so the board was not told): launching
    it with the version it shows is refused, and the page says why."""
    server = await start_server(COMMPULSE_SENDER="none")
    tab = await open_board(browser, server)
    page = tab.page
    async with http_session(server) as session:
        campaign = await create_email(session, "Edited elsewhere")
        launch = row(page, campaign["id"]).locator('button[data-action="LAUNCH"]')
        await expect(launch).to_be_visible()
        edit = {"id": campaign["id"], "name": "Edited elsewhere (v2)"}
        assert (await execute(session, RENAME, input=edit))["updateEmailCampaign"][
            "userErrors"
        ] == []
        await launch.click()
        await expect(page.locator(".msg-error")).to_contain_text("version")
        now = (await execute(session, STATUS, id=campaign["id"]))["communication"]
        assert now["status"] == "DRAFT"
        # and the board reads the row again
        await expect(row(page, campaign["id"]).locator(".name")).to_have_text(edit["name"])
    await tab.screenshot("board-refusal")
    tab.guard.check()


async def test_a_viewer_sees_everything_but_no_buttons(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_AUTH="on", COMMPULSE_SENDER="none")
    viewer = await make_token(server, "wallboard", ApiRole.VIEWER)
    editor = await make_token(server, "planner", ApiRole.EDITOR)
    async with http_session(server, editor) as session:
        campaign = await create_in_app(session, "Tour")
        await act(session, LAUNCH, "launchCommunication", id=campaign["id"])

    anonymous = await open_tab(browser, server, "/")
    await expect(anonymous.page.locator(".msg-error")).to_contain_text("needs an API token")
    await expect(anonymous.page.locator("#rows tr")).to_have_count(0)
    anonymous.guard.check()

    tab = await open_board(browser, server, viewer)
    page = tab.page
    await expect(page.locator("body")).to_have_attribute("data-role", "read")
    await expect(row(page, campaign["id"])).to_have_attribute("data-status", "ACTIVE")
    await expect(cell(page, "IN_APP", "ACTIVE")).to_have_text("1")
    async with http_session(server, editor) as session:  # the viewer's feed is live too
        await act(session, e2e.PAUSE, "pauseCommunication", id=campaign["id"])
    await expect(change(page, campaign["id"], "PAUSED")).to_contain_text("pause by planner")
    await expect(row(page, campaign["id"])).to_have_attribute("data-status", "PAUSED")
    await expect(page.locator("#rows button")).to_have_count(0)
    await tab.screenshot("board-viewer")
    tab.guard.check()

    acting = await open_board(browser, server, editor)
    await expect(acting.page.locator("body")).to_have_attribute("data-role", "act")
    buttons = row(acting.page, campaign["id"]).locator("button")
    await expect(buttons).to_have_text(["Resume", "Stop"])
    acting.guard.check()


async def test_after_a_server_restart_the_feed_resumes_with_nothing_missing(
    start_server: StartServer, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_server(COMMPULSE_SENDER="none")
    tab = await open_board(browser, server)
    page = tab.page
    expected: list[tuple[str, str]] = []
    async with http_session(server) as session:
        before = await create_email(session, "Before the restart")
        expected.append((before["id"], "DRAFT"))
        sending = await create_email(session, "Sending across the restart", audience=10)
        expected.append((sending["id"], "DRAFT"))
        await act(session, LAUNCH, "launchCommunication", id=sending["id"])
        expected.append((sending["id"], "SENDING"))
        bar = page.locator(f'#bars .bar[data-id="{sending["id"]}"]')
        await expect(bar).to_have_attribute("data-pending", "10")

    await server.stop()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    await expect(page.locator("#feed li.system.lost")).to_be_visible()
    # changes while the server is down, made on its database as the CLI would
    async with server_store(server) as store:
        for name in ("While down 1", "While down 2"):
            made = await factories.create(store, Kind.EMAIL, name=name)
            expected.append((communication_id(made.id), "DRAFT"))
        await changes.apply(store, made.id, Action.LAUNCH, by=Trigger.PERSON, actor="cli")
        expected.append((communication_id(made.id), "SENDING"))

    # the same port, so the page reconnects to its own origin
    monkeypatch.setattr(e2e, "free_port", lambda: server.port)
    again = await start_server(server.database, COMMPULSE_SENDER="none")
    assert again.port == server.port
    await expect(page.locator("#feed li.system.resumed")).to_contain_text("nothing was missed")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    async with http_session(again) as session:
        after = await create_email(session, "After the restart")
        expected.append((after["id"], "DRAFT"))
        await expect(change(page, after["id"], "DRAFT")).to_be_visible()
        # the bar's subscription came back too: one bar, moving
        claimed = await execute(session, CLAIM, id=sending["id"], limit=4)
        results = [
            {"recipientId": r["recipientId"], "leaseId": r["leaseId"], "outcome": "SENT"}
            for r in claimed["claimRecipients"]["recipients"]
        ]
        await execute(session, REPORT, id=sending["id"], results=results)
    await expect(bar).to_have_attribute("data-sent", "4")
    await expect(page.locator("#bars .bar")).to_have_count(2)  # and "While down 2"

    shown = await page.locator("#feed li.change").evaluate_all(
        "items => items.map(li => [li.dataset.id, li.dataset.to, li.dataset.cursor]).reverse()"
    )
    assert [(id, to) for id, to, _ in shown] == expected
    assert len({cursor for *_, cursor in shown}) == len(shown)  # each change once
    assert await page.locator("#feed").get_attribute("data-resumes") == "1"
    await tab.screenshot("board-resumed")
    tab.guard.check()


async def test_a_revoked_token_is_told_to_enter_another(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_AUTH="on", COMMPULSE_SENDER="none")
    admin = await make_token(server, "ops", ApiRole.ADMIN)
    wallboard = await make_token(server, "wallboard", ApiRole.VIEWER)
    tab = await open_board(browser, server, wallboard)
    async with http_session(server, admin) as session:
        revoked = await execute(
            session, 'mutation { revokeApiToken(name: "wallboard") { userErrors { code } } }'
        )
        assert revoked["revokeApiToken"]["userErrors"] == []
    await expect(tab.page.locator("#conn")).to_have_attribute("data-state", "refused")
    await expect(tab.page.locator(".msg-error")).to_contain_text("enter another one above")
    tab.guard.check()


async def test_the_list_filters_pages_and_schedules(
    start_server: StartServer, browser: Browser
) -> None:
    server = await start_server(COMMPULSE_SENDER="none")
    async with http_session(server) as session:
        emails = [await create_email(session, f"Email {n:02}") for n in range(25)]
        tour = await create_in_app(session, "Product tour")
    tab = await open_board(browser, server)
    page = tab.page
    rows = page.locator("#rows tr")
    await expect(page.locator("#total")).to_have_text("26 communications")
    await expect(rows).to_have_count(20)
    await expect(rows.first).to_have_attribute("data-id", tour["id"])  # newest first
    await page.locator("#next").click()
    await expect(rows).to_have_count(6)
    await expect(rows.last).to_have_attribute("data-id", emails[0]["id"])
    await expect(page.locator("#next")).to_be_disabled()
    await page.locator("#prev").click()
    await expect(rows).to_have_count(20)
    await expect(rows.first).to_have_attribute("data-id", tour["id"])

    await page.locator("#filter-kind").select_option("IN_APP")
    await page.locator("#filters button[type=submit]").click()
    await expect(rows).to_have_count(1)
    await expect(page.locator("#total")).to_have_text("1 communication")
    await page.locator("#filter-kind").select_option("")
    await page.locator("#filter-search").fill("email 1")
    await page.locator("#filters button[type=submit]").click()
    await expect(rows).to_have_count(10)  # Email 10 … Email 19

    await row(page, emails[12]["id"]).locator('button[data-action="SCHEDULE"]').click()
    await expect(page.locator("dialog#confirm")).to_contain_text("Schedule “Email 12”")
    await page.locator("#confirm-ok").click()
    await expect(change(page, emails[12]["id"], "SCHEDULED")).to_be_visible()
    await expect(row(page, emails[12]["id"])).to_have_attribute("data-status", "SCHEDULED")
    await expect(row(page, emails[12]["id"]).locator("button")).to_have_text(
        ["Unschedule", "Launch"]
    )
    await tab.screenshot("board-list")
    tab.guard.check()


async def test_an_admin_sees_each_webhook_endpoints_health(
    start_server: StartServer, browser: Browser
) -> None:
    """An admin's board shows every webhook endpoint: healthy and up to date, or failing
    with its last attempt's error and how many changes wait; when the receiver comes back
    the row turns healthy without a reload. A viewer sees no endpoints."""
    server = await start_server(COMMPULSE_AUTH="on", **WEBHOOKS_FAST)
    admin = await make_token(server, "ops", ApiRole.ADMIN)
    viewer = await make_token(server, "wallboard", ApiRole.VIEWER)
    up, down = Receiver(), Receiver()  # `down` is not listening yet: connections are refused
    await up.start()
    try:
        async with http_session(server, admin) as session:
            healthy = await create_endpoint(session, up)
            failing = await create_endpoint(session, down)
            await create_in_app(session, "Hooked")
        await up.wait_for(lambda r: len(r.unique()) == 1, "the creation")

        tab = await open_board(browser, server, admin)
        page = tab.page
        good = page.locator(f'#endpoints tr[data-endpoint="{healthy}"]')
        await expect(good).to_have_attribute("data-health", "healthy")
        await expect(good).to_have_attribute("data-lag", "0")
        await expect(good.locator(".last")).to_contain_text("delivered (200)")
        await expect(good.locator(".lag")).to_have_text("up to date")
        bad = page.locator(f'#endpoints tr[data-endpoint="{failing}"]')
        await expect(bad).to_have_attribute("data-health", "failing")
        await expect(bad).to_have_attribute("data-lag", "1")
        await expect(bad.locator(".last")).to_contain_text("failed: ")
        await expect(bad.locator(".lag")).to_have_text("1 change behind")
        await tab.screenshot("board-webhooks")

        await down.start()
        await expect(bad).to_have_attribute("data-health", "healthy")
        await expect(bad).to_have_attribute("data-lag", "0")
        await expect(bad.locator(".last")).to_contain_text("delivered (200)")
        tab.guard.check()
    finally:
        await up.stop()
        await down.stop()

    looking = await open_board(browser, server, viewer)
    await expect(looking.page.locator("#webhooks-panel")).to_be_hidden()
    await expect(looking.page.locator("#endpoints tr")).to_have_count(0)
    looking.guard.check()
