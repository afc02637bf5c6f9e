from pathlib import Path

from schema import schema

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"


def test_committed_schema_matches_the_live_schema() -> None:
    """schema.graphql is what the server serves; `make schema` rewrites it after a change."""
    assert SCHEMA_FILE.read_text().strip() == schema.as_str().strip()
