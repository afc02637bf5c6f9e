"""API tokens in the store: secrets shown once and kept as hashes, revocation, roles."""

import hashlib

import pytest

from store import Store, tokens
from store.errors import Refused
from store.tokens import ApiRole, covers


async def test_a_secret_is_returned_once_and_only_its_hash_is_kept(store: Store) -> None:
    """create() returns a cp_ secret; the row holds its SHA-256, never the secret."""
    row, secret = await tokens.create(store, "dash", ApiRole.VIEWER)
    assert secret.startswith("cp_") and len(secret) >= 40
    assert row.hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(await tokens.tokens(store))
    found = await tokens.authenticate(store, secret)
    assert found is not None and found.name == "dash"


async def test_revoked_unknown_and_malformed_secrets_authenticate_no_one(store: Store) -> None:
    """After revoke() the secret fails at once; so do made-up ones."""
    _, secret = await tokens.create(store, "worker", ApiRole.SENDER)
    await tokens.revoke(store, "worker")
    for attempt in (secret, "cp_made-up", "no prefix", "cp_" + "x" * 500):
        assert await tokens.authenticate(store, attempt) is None
    assert await tokens.live(store, ["worker"]) == set()


async def test_names_are_unique_and_checked(store: Store) -> None:
    """A taken or malformed name is refused as INVALID_INPUT; revoking no token is NOT_FOUND."""
    await tokens.create(store, "ops", ApiRole.ADMIN)
    for name in ("ops", "", "has space", "x" * 65):
        with pytest.raises(Refused) as refused:
            await tokens.create(store, name, ApiRole.VIEWER)
        assert refused.value.code == "INVALID_INPUT"
    with pytest.raises(Refused) as missing:
        await tokens.revoke(store, "nobody")
    assert missing.value.code == "NOT_FOUND"


def test_roles_cover_viewer_editor_admin_in_line_and_sender_beside() -> None:
    """viewer < editor < admin; sender covers viewer only; admin covers every role."""
    R = ApiRole
    assert {(h, n) for h in R for n in R if covers(h, n)} == {
        (R.VIEWER, R.VIEWER),
        (R.EDITOR, R.VIEWER),
        (R.EDITOR, R.EDITOR),
        (R.SENDER, R.VIEWER),
        (R.SENDER, R.SENDER),
        *((R.ADMIN, n) for n in R),
    }


async def test_a_token_keeps_its_own_rate_within_bounds(store: Store) -> None:
    """A rate given at creation is kept on the row and read back by authenticate(); a rate
    of zero, below or past the maximum is refused as INVALID_INPUT on `rate`."""
    row, secret = await tokens.create(store, "backend", ApiRole.VIEWER, rate=250)
    found = await tokens.authenticate(store, secret)
    assert row.rate == 250 and found is not None and found.rate == 250
    for rate in (0, -1, tokens.RATE_MAX * 2):
        with pytest.raises(Refused) as refused:
            await tokens.create(store, f"bad{abs(int(rate))}", ApiRole.VIEWER, rate=rate)
        assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", ["rate"])
