"""`commpulse migrate` brings the database to this version's schema; `commpulse seed` loads
examples into an empty database; `commpulse serve` runs the API."""

import argparse
import asyncio
import os
import sys

import uvicorn

from server.seed import seed
from server.settings import Settings
from store import migrate
from store.database import create_engine


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
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    commands.add_parser("migrate", help="bring the database to the newest schema revision")
    commands.add_parser("seed", help="load example communications if the database is empty")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.command == "serve":
        uvicorn.run("server.app:app", host=args.host, port=args.port, log_level="info")
    elif args.command == "migrate":
        print(f"database at revision {asyncio.run(_migrate(settings.database_url))}")
    else:
        try:
            created = asyncio.run(seed(settings))
        except migrate.NotMigrated as error:
            sys.exit(f"commpulse seed: {error}")
        print(
            f"seeded {created} example communications"
            if created
            else "database not empty: nothing seeded"
        )


if __name__ == "__main__":
    main()
