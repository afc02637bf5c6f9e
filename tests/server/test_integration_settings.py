"""Settings of metrics, webhooks and logs: safe defaults, and bad values named."""

import pytest

from server.settings import Settings, SettingsError


def test_integration_defaults_are_safe() -> None:
    """Out of the box: no /metrics, no private webhook URLs, short attempts, a week of
    retries, a lease longer than two attempts."""
    settings = Settings.from_env({}).checked()
    assert settings.metrics == "off" and settings.webhook_allow_private is False
    assert settings.webhook_timeout <= 10 and settings.webhook_retry_period == 7 * 24 * 3600
    assert settings.webhook_lease > 2 * settings.webhook_timeout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COMMPULSE_METRICS", "yes"),
        ("COMMPULSE_WEBHOOKS", "maybe"),
        ("COMMPULSE_WEBHOOK_ALLOW_PRIVATE", "2"),
        ("COMMPULSE_WEBHOOK_TIMEOUT", "0"),
        ("COMMPULSE_WEBHOOK_RETRY_PERIOD", "-1"),
        ("COMMPULSE_WEBHOOK_LEASE", "soon"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    """A value out of its range stops start-up with a message naming the variable."""
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_lease_must_outlast_two_attempts() -> None:
    """A lease that an attempt could outlast is refused: two instances could both send."""
    with pytest.raises(SettingsError, match="COMMPULSE_WEBHOOK_LEASE"):
        Settings.from_env(
            {"COMMPULSE_WEBHOOK_LEASE": "9", "COMMPULSE_WEBHOOK_TIMEOUT": "5"}
        ).checked()
