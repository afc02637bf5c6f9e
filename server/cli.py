"""`commpulse migrate` brings the database to this version's schema; `commpulse seed` loads
examples into an empty database; `commpulse serve` runs the API; `commpulse tokens
create|list|revoke` manages API tokens."""

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import uvicorn

from server import brokers, logs
from server.seed import seed
from server.settings import Settings, SettingsError
from store import Store, migrate, tokens
from store.database import create_engine, sessions
from store.errors import Refused
from store.feed import Feed
from store.tokens import ApiRole


async def _migrate(url: str) -> str:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        return await migrate.current(engine) or "none"
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="commpulse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (HOST and PORT override)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    commands.add_parser("migrate", help="bring the database to the newest schema revision")
    commands.add_parser("seed", help="load example communications if the database is empty")
    token = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True
    )
    create = token.add_parser("create", help="a new token; its secret is printed once")
    create.add_argument("name")
    create.add_argument("--role", choices=[r.value for r in ApiRole], required=True)
    token.add_parser("list", help="every token, revoked ones included")
    revoke = token.add_parser("revoke", help="revoke a token now")
    revoke.add_argument("name")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            _serve(settings, args.host, args.port)
        elif args.command == "migrate":
            print(f"database at revision {asyncio.run(_migrate(settings.database_url))}")
        elif args.command == "seed":
            created = asyncio.run(seed(settings))
            print(
                f"seeded {created} example communications"
                if created
                else "database not empty: nothing seeded"
            )
        else:
            asyncio.run(_tokens(settings, args))
    except (SettingsError, Refused, migrate.NotMigrated) as refused:
        sys.exit(f"commpulse: {refused}")


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    settings = replace(settings, host=host or settings.host, port=port or settings.port)
    settings.checked()  # the bind host decides whether serving without auth is allowed
    os.environ["HOST"], os.environ["PORT"] = settings.host, str(settings.port)  # for the app
    uvicorn.run(
        "server.app:app",
        host=settings.host,
        port=settings.port,
        log_level="info",
        ws_max_size=settings.ws_max_message_bytes,
        log_config=logs.config(settings.log_format) or uvicorn.config.LOGGING_CONFIG,
    )


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[Store]:
    engine = create_engine(settings.database_url)
    try:
        await migrate.check(engine)
        async with brokers.broadcast(settings.broadcast_url)[0] as broadcast:
            yield Store(sessions(engine), Feed(broadcast))
    finally:
        await engine.dispose()


async def _tokens(settings: Settings, args: argparse.Namespace) -> None:
    async with _store(settings) as store:
        if args.action == "create":
            row, secret = await tokens.create(store, args.name, ApiRole(args.role))
            print(f"created {row.role} token {row.name!r}; its secret, shown this once:")
            print(secret)
        elif args.action == "list":
            for row in await tokens.tokens(store):
                state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "live"
                print(f"{row.name}\t{row.role}\t{row.created_at:%Y-%m-%d %H:%M}\t{state}")
        else:
            row = await tokens.revoke(store, args.name)
            print(f"revoked {row.name!r}")


if __name__ == "__main__":
    main()
