"""Settings: safe defaults, and serving without auth only on loopback."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.settings import VARIABLES, Settings, SettingsError, markdown


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


def test_the_readme_table_is_the_declared_settings() -> None:
    """The README's settings table is what `commpulse settings --markdown` prints."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert markdown() in readme, "README settings table is stale: `commpulse settings --markdown`"


@settings(max_examples=100, deadline=None)
@given(variable=st.sampled_from(sorted(VARIABLES.values())), value=st.text(max_size=40))
def test_any_value_is_taken_or_refused_naming_its_variable(variable: str, value: str) -> None:
    """Whatever a variable holds, start-up either takes it or stops with one line that
    names the variable; nothing else escapes."""
    try:
        Settings.from_env({variable: value})
    except SettingsError as refused:
        assert str(refused).startswith(f"{variable}=") and "\n" not in str(refused)
