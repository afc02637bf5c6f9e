"""Settings: safe defaults, and serving without auth only on loopback."""

import pytest

from server.settings import Settings, SettingsError


def test_defaults_are_safe() -> None:
    """Out of the box: auth on, every limit set."""
    settings = Settings.from_env({})
    assert settings.auth is True
    assert settings.max_depth and settings.max_aliases and settings.max_tokens
    assert settings.max_body_bytes and settings.max_batch and settings.max_subscriptions
    assert settings.rate_limit and settings.rate_burst and settings.connection_init_timeout


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_auth_off_is_allowed_on_loopback(host: str) -> None:
    """COMMPULSE_AUTH=off with a loopback HOST starts."""
    assert Settings.from_env({"COMMPULSE_AUTH": "off", "HOST": host}).checked().auth is False


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com"])
def test_auth_off_is_refused_anywhere_else(host: str) -> None:
    """COMMPULSE_AUTH=off with any other HOST stops with a message naming the setting."""
    with pytest.raises(SettingsError, match="COMMPULSE_AUTH=off"):
        Settings.from_env({"COMMPULSE_AUTH": "off", "HOST": host}).checked()


@pytest.mark.parametrize(
    "name",
    [
        "COMMPULSE_MAX_DEPTH",
        "COMMPULSE_RATE_BURST",
        "COMMPULSE_MAX_BATCH",
        "COMMPULSE_SUBSCRIBER_QUEUE",
        "COMMPULSE_STREAM_TAIL",
        "PORT",
    ],
)
def test_bad_counts_name_the_variable(name: str) -> None:
    """A limit that is not a whole number above 0 stops start-up, naming the variable."""
    for value in ("0", "-3", "lots", "1.5"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
