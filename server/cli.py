"""`commpulse serve` runs the API; `commpulse seed` loads examples into an empty database."""

import argparse
import asyncio
import os

import uvicorn

from server.seed import seed
from server.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="commpulse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (HOST and PORT override)")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    commands.add_parser("seed", help="load example communications if the database is empty")
    args = parser.parse_args(argv)
    if args.command == "serve":
        uvicorn.run("server.app:app", host=args.host, port=args.port, log_level="info")
    else:
        created = asyncio.run(seed(Settings.from_env()))
        print(
            f"seeded {created} example communications"
            if created
            else "database not empty: nothing seeded"
        )


if __name__ == "__main__":
    main()
