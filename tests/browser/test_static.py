"""The vendored files are the pinned packages' files, byte for byte, with their licences;
the pages load only files of this server, which serves them with a same-origin policy."""

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from server.web import STATIC
from tests.browser.conftest import SHARED_LOOP
from tests.e2e.conftest import Server, StartServer

ROOT = Path(__file__).parents[2]
VENDOR = STATIC / "vendor"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text())["files"]
PINS = json.loads((ROOT / "package.json").read_text())["devDependencies"]
PAGES = [STATIC / "graphiql" / "index.html", STATIC / "board" / "index.html"]


def test_vendored_files_match_the_manifest_and_the_pins() -> None:
    """Every file in server/static/vendor is in MANIFEST.json with its hash, from the exact
    version package.json pins; `make vendor` refreshes them and checks the same hashes."""
    on_disk = {path.name for path in VENDOR.iterdir()} - {"MANIFEST.json"}
    assert on_disk == set(MANIFEST)
    for name, entry in MANIFEST.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == entry["sha256"], name
        assert PINS[entry["package"]] == entry["version"], f"{entry['package']} not pinned"


def test_every_vendored_package_carries_its_licence() -> None:
    packages = {entry["package"] for entry in MANIFEST.values()}
    licensed = {entry["package"] for name, entry in MANIFEST.items() if name.startswith("LICENSE.")}
    assert packages == licensed
    for name in MANIFEST:
        if name.startswith("LICENSE."):
            assert "Permission is hereby granted" in (VENDOR / name).read_text(), name


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists()], ids=lambda p: p.parent.name)
def test_pages_load_only_files_of_this_server(page: Path) -> None:
    html = page.read_text()
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources
    for source in sources:
        same_origin = source.startswith("/") and not source.startswith("//")
        assert same_origin or source == "data:,", source
        if source.startswith("/static/"):
            assert (STATIC / source.removeprefix("/static/")).is_file(), source


@pytest.mark.e2e
@SHARED_LOOP
async def test_pages_are_served_with_a_same_origin_policy(server: Server) -> None:
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base) as client:
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        script = await client.get("/static/vendor/graphiql.min.js")
        missing = await client.get("/static/vendor/nothing.js")
    assert ide.status_code == 200
    assert ide.headers["content-type"].startswith("text/html")
    assert "/static/vendor/graphiql.min.js" in ide.text and "unpkg" not in ide.text
    policy = ide.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert missing.status_code == 404


@pytest.mark.e2e
@SHARED_LOOP
async def test_with_graphiql_off_its_files_are_not_served_but_the_board_is(
    start_server: StartServer,
) -> None:
    server = await start_server(COMMPULSE_GRAPHIQL="off")
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for path in ("/static/vendor/graphiql.min.js", "/static/graphiql/graphiql.js"):
            assert (await client.get(path)).status_code == 404, path
        board = await client.get("/")
        assert board.status_code == 200 and "/static/board/board.js" in board.text
        assert (await client.get("/static/board/board.js")).status_code == 200
