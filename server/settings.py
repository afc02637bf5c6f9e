"""Settings, read from the environment once. Every default serves one machine out of the box."""

import os
from dataclasses import dataclass, field
from typing import Self


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./commpulse.db"
    broadcast_url: str = "memory://"
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    scheduler_enabled: bool = True
    scheduler_interval: float = 0.5  # seconds between looks at what is due, at most
    sender: str = "simulated"  # "simulated" or "none" (real delivery workers arrive later)
    simulated_send_rate: float = 50.0  # recipients per second per campaign
    sender_interval: float = 0.5  # seconds between progress updates
    lease_seconds: float = 60.0  # how long a worker holds claimed recipients by default
    stalled_after: float = 60.0  # seconds of SENDING without progress before `stalled`

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Self:
        env = dict(os.environ if env is None else env)
        get = env.get
        defaults = cls()
        return cls(
            database_url=get("COMMPULSE_DATABASE_URL", defaults.database_url),
            broadcast_url=get("COMMPULSE_BROADCAST_URL", defaults.broadcast_url),
            allowed_origins=_list(get("COMMPULSE_ALLOWED_ORIGINS", "")),
            scheduler_enabled=_flag(get("COMMPULSE_SCHEDULER", "on"), "COMMPULSE_SCHEDULER"),
            scheduler_interval=_positive(
                get("COMMPULSE_SCHEDULER_INTERVAL"),
                defaults.scheduler_interval,
                "COMMPULSE_SCHEDULER_INTERVAL",
            ),
            sender=_choice(
                get("COMMPULSE_SENDER", defaults.sender), ("simulated", "none"), "COMMPULSE_SENDER"
            ),
            simulated_send_rate=_positive(
                get("COMMPULSE_SIMULATED_SEND_RATE"),
                defaults.simulated_send_rate,
                "COMMPULSE_SIMULATED_SEND_RATE",
            ),
            sender_interval=_positive(
                get("COMMPULSE_SENDER_INTERVAL"),
                defaults.sender_interval,
                "COMMPULSE_SENDER_INTERVAL",
            ),
            lease_seconds=_positive(
                get("COMMPULSE_LEASE_SECONDS"), defaults.lease_seconds, "COMMPULSE_LEASE_SECONDS"
            ),
            stalled_after=_positive(
                get("COMMPULSE_STALLED_AFTER"), defaults.stalled_after, "COMMPULSE_STALLED_AFTER"
            ),
        )


class SettingsError(ValueError):
    pass


def _flag(value: str, name: str) -> bool:
    return _choice(value.lower(), ("on", "off", "true", "false", "1", "0"), name) in (
        "on",
        "true",
        "1",
    )


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _positive(value: str | None, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a number") from None
    if number <= 0:
        raise SettingsError(f"{name}={value!r}: expected a number above 0")
    return number
