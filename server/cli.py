"""`commpulse migrate` brings the database to this version's schema; `commpulse seed` loads
examples into an empty database; `commpulse serve` runs the API; `commpulse tokens
create|list|revoke` manages API tokens; `commpulse settings` lists what the environment may set."""

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from sqlalchemy import make_url, text

from server import logs, runtime
from server.seed import seed
from server.settings import Settings, SettingsError, markdown, plain
from store import Store, migrate, tokens
from store.database import DatabaseUnavailable, create_engine, reachable
from store.errors import Refused
from store.tokens import ApiRole

# uvicorn's websocket protocols as `serve` runs them, by COMMPULSE_WS_IMPLEMENTATION: each
# writes a socket's frames of one loop turn in one write (server/websockets.py); named, not
# imported, so that the commands other than `serve` start without strawberry
WEBSOCKETS = {
    "wsproto": "server.websockets:WSProtoProtocol",
    "websockets-sansio": "server.websockets:SansIOProtocol",
}
HTTP = "server.websockets:HttpProtocol"  # uvicorn's httptools, its responses' writes corked too


async def _migrate(settings: Settings, create: bool) -> str:
    if create:
        await _create_database(settings.database_url)
    return await runtime.upgrade(settings)


async def _create_database(url: str) -> None:
    """Create the PostgreSQL database the URL names, unless it exists (SQLite makes its
    file by itself)."""
    target = make_url(url)
    if target.get_backend_name() != "postgresql" or not target.database:
        return
    server = create_engine(target.set(database="postgres").render_as_string(False))
    try:
        await reachable(server)
        async with server.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            found = await conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            )
            if found.first() is None:
                quoted = target.database.replace('"', '""')  # an identifier, quoted as one
                await conn.execute(text(f'CREATE DATABASE "{quoted}"'))
                print(f"created database {target.database}")
    finally:
        await server.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="commpulse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (HOST and PORT override)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    migration = commands.add_parser(
        "migrate", help="bring the database to the newest schema revision"
    )
    migration.add_argument(
        "--create", action="store_true", help="create the PostgreSQL database if it is missing"
    )
    commands.add_parser("seed", help="load example communications if the database is empty")
    token = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="action", required=True
    )
    create = token.add_parser("create", help="a new token; its secret is printed once")
    create.add_argument("name")
    create.add_argument("--role", choices=[r.value for r in ApiRole], required=True)
    create.add_argument(
        "--rate",
        type=float,
        help="operations a second for this token (default: COMMPULSE_RATE_LIMIT)",
    )
    ensure = token.add_parser(
        "ensure", help="reuse the token whose secret FILE holds, or make one and write it there"
    )
    ensure.add_argument("name")
    ensure.add_argument("--role", choices=[r.value for r in ApiRole], required=True)
    ensure.add_argument("--file", required=True)
    token.add_parser("list", help="every token, revoked ones included")
    revoke = token.add_parser("revoke", help="revoke a token now")
    revoke.add_argument("name")
    described = commands.add_parser("settings", help="every setting: variable, default, meaning")
    described.add_argument("--markdown", action="store_true", help="as the README's table")
    args = parser.parse_args(argv)
    if args.command == "settings":  # read no environment: a bad value must not hide the list
        print(markdown() if args.markdown else plain(), end="")
        return
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            _serve(settings, args.host, args.port)
        elif args.command == "migrate":
            revision = asyncio.run(_migrate(settings, args.create))
            print(f"database at revision {revision}")
        elif args.command == "seed":
            created = asyncio.run(seed(settings))
            print(
                f"seeded {created} example communications"
                if created
                else "database not empty: nothing seeded"
            )
        else:
            asyncio.run(_tokens(settings, args))
    except (SettingsError, Refused, migrate.NotMigrated, DatabaseUnavailable) as refused:
        sys.exit(f"commpulse: {refused}")
    except OSError as error:  # a token file that cannot be read or written, say
        sys.exit(f"commpulse: {error}")


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    settings.checked()  # the bind host decides whether serving without auth is allowed
    asyncio.run(runtime.check(settings))  # so that a mistake is one line, not a traceback
    from server.app import create_app  # here: the other commands start faster without it

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=HTTP,
        ws=WEBSOCKETS[settings.ws_implementation],
        ws_max_size=settings.ws_max_message_bytes,
        ws_per_message_deflate=settings.ws_per_message_deflate,
        log_config=logs.config(settings.log_format),
    )


async def _tokens(settings: Settings, args: argparse.Namespace) -> None:
    async with runtime.runtime(settings) as parts:
        store = parts.store
        if args.action == "create":
            row, secret = await tokens.create(store, args.name, ApiRole(args.role), args.rate)
            rate = f" at {row.rate:g} operations a second" if row.rate else ""
            print(f"created {row.role} token {row.name!r}{rate}; its secret, shown this once:")
            print(secret)
        elif args.action == "ensure":
            await _ensure(store, args.name, ApiRole(args.role), Path(args.file))
        elif args.action == "list":
            for row in await tokens.tokens(store):
                state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "live"
                rate = f"{row.rate:g}/s" if row.rate else "default rate"
                print(f"{row.name}\t{row.role}\t{rate}\t{row.created_at:%Y-%m-%d %H:%M}\t{state}")
        else:
            row = await tokens.revoke(store, args.name)
            print(f"revoked {row.name!r}")


async def _ensure(store: Store, name: str, role: ApiRole, file: Path) -> None:
    """The secret in `file` if it is a live token, else a new token NAME-<time> saved there."""
    kept = await asyncio.to_thread(_read, file)
    row = await tokens.authenticate(store, kept) if kept else None
    if row is not None and row.role == role:
        print(f"reusing {row.role} token {row.name!r} from {file}")
        return
    row, secret = await tokens.create(store, f"{name}-{datetime.now(UTC):%Y%m%d%H%M%S}", role)
    await asyncio.to_thread(_write_secret, file, secret)
    print(f"created {row.role} token {row.name!r}; its secret is in {file}")


def _read(file: Path) -> str | None:
    return file.read_text().strip() if file.exists() else None


def _write_secret(file: Path, secret: str) -> None:
    file.write_text(secret + "\n")
    file.chmod(0o600)


if __name__ == "__main__":
    main()
