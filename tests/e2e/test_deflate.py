"""permessage-deflate is served only when COMMPULSE_WS_PER_MESSAGE_DEFLATE asks for it: off by
default, as its zlib state is most of what an idle websocket costs."""

import pytest

from tests.e2e.conftest import StartServer, init, raw_ws

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("setting", "served"), [(None, False), ("off", False), ("on", True)])
async def test_deflate_is_agreed_only_when_the_setting_is_on(
    start_server: StartServer, setting: str | None, served: bool
) -> None:
    """A client offering permessage-deflate gets it with the setting on, not otherwise, and
    the socket serves GraphQL either way."""
    env = {"COMMPULSE_SCHEDULER": "off"}
    if setting is not None:
        env["COMMPULSE_WS_PER_MESSAGE_DEFLATE"] = setting
    server = await start_server(None, migrated=True, **env)
    async with raw_ws(server) as ws:  # websockets offers permessage-deflate by default
        assert ws.response is not None
        agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ("permessage-deflate" in agreed) is served
        await init(ws)
