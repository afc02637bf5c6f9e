"""The pages a person opens in a browser: the status board at `/` and GraphiQL at
`/graphql`, and the files under `/static` they load. Everything comes from this package
(`server/static`): the pages load nothing from another origin, which the Content Security
Policy below also tells the browser to enforce.

`server/static/vendor` holds the pinned third-party files (React, GraphiQL and its explorer
plugin, graphql-ws) copied by `make vendor` with their licences and `MANIFEST.json`;
`server/static/board/board.js` is the board's bundle, built by `make board` from `web/`.
"""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

# same origin only; inline styles for React's style props and GraphiQL's editors, data: for
# the fonts GraphiQL's CSS inlines
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def page(name: str) -> Response:
    """One of our HTML pages, with the headers that keep it on this origin."""
    return FileResponse(STATIC / name, media_type="text/html", headers=PAGE_HEADERS)


def graphiql() -> Response:
    """GraphiQL, served by the GraphQL view on a browser's GET of /graphql."""
    return page("graphiql/index.html")


async def board(_request: Request) -> Response:
    return page("board/index.html")


def routes(graphiql: bool) -> list[Route | Mount]:
    """The board at `/` and its files; GraphiQL's files only while GraphiQL is on
    (COMMPULSE_GRAPHIQL=off serves neither the page nor what it loads)."""
    folders = ["board", "graphiql", "vendor"] if graphiql else ["board"]
    return [
        Route("/", board, methods=["GET", "HEAD"]),
        *(Mount(f"/static/{name}", StaticFiles(directory=STATIC / name)) for name in folders),
    ]
