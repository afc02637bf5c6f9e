"""server/static/board/board.js is what `make board` builds from web/board and
schema.graphql, as schema.graphql is what the server serves: a test fails while the
committed bundle is stale. Needs node and `npm ci` (skipped without, failed under CI=true)."""

import shutil
import subprocess
from pathlib import Path

from tests.conftest import unavailable

ROOT = Path(__file__).parents[2]


def test_committed_board_bundle_is_a_fresh_build() -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node", FileNotFoundError("node"))
    if not (ROOT / "node_modules" / "esbuild").is_dir():
        unavailable("the node tools (npm ci)", FileNotFoundError(ROOT / "node_modules"))
    assert node is not None
    built = subprocess.run(
        [node, "web/build.mjs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
