"""Settings, read from the environment once. Every default serves one machine out of the box."""

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Self


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./commpulse.db"
    database_pool_size: int = 10  # PostgreSQL connections kept open per instance
    broadcast_url: str = "memory://"
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    scheduler_enabled: bool = True
    scheduler_interval: float = 0.5  # seconds between looks at what is due, at most
    sender: str = "simulated"  # "simulated" or "none" (real delivery workers arrive later)
    simulated_send_rate: float = 50.0  # recipients per second per campaign
    sender_interval: float = 0.5  # seconds between progress updates
    lease_seconds: float = 60.0  # how long a worker holds claimed recipients by default
    stalled_after: float = 60.0  # seconds of SENDING without progress before `stalled`
    host: str = "127.0.0.1"  # where `commpulse serve` listens
    port: int = 8000
    auth: bool = True  # off only on a loopback host, for a local session
    token_recheck: float = 2.0  # seconds between re-checks of open websockets' tokens
    max_depth: int = 12  # nesting of a selection
    max_aliases: int = 30  # aliases in a document, fragments counted where spread
    max_tokens: int = 5_000  # lexical tokens in a document
    max_body_bytes: int = 2_000_000  # an HTTP request body (10,000 recipients fit)
    max_batch: int = 10  # operations in one batched HTTP request
    max_subscriptions: int = 100  # operations running at once on one websocket
    connection_init_timeout: float = 10.0  # seconds a websocket may wait before connection_init
    ws_max_message_bytes: int = 1_000_000  # one websocket message
    subscriber_queue: int = 1_000  # changes waiting for one subscriber before it is dropped
    stream_tail: int = 10_000  # recent changes kept in memory for resuming subscribers
    rate_limit: float = 20.0  # operations a second per token, sustained
    rate_burst: int = 100  # operations per token at once, before the sustained rate applies
    max_cost: int = 25_000  # the most one operation may cost (schema/cost.py)
    cost_budget: int = 50_000  # cost points a token may spend at once
    cost_refill: float = 2_500.0  # cost points a second given back to each token's budget
    read_cache: int = 1_000  # query results kept for repeated reads (schema/readcache.py); 0: off
    graphiql: bool = True
    introspection: bool = True
    field_suggestions: bool = True
    metrics: str = "off"  # /metrics: "off", "on" (open to whoever reaches it) or "token"
    log_format: str = "human"  # "json": one object a line with the request id and token
    webhooks: bool = True  # this instance delivers webhooks (one instance per endpoint at once)
    webhook_allow_private: bool = False  # private and loopback webhook URLs (tests, local)
    webhook_timeout: float = 5.0  # seconds for one delivery attempt
    webhook_retry_first: float = 1.0  # seconds before the first retry; then doubling
    webhook_retry_most: float = 3600.0  # seconds between two attempts at most
    webhook_retry_period: float = 7 * 24 * 3600.0  # seconds of failing before FAILING
    webhook_lease: float = 30.0  # seconds an instance holds an endpoint without renewing
    webhook_poll: float = 1.0  # seconds between looks for undelivered changes

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Self:
        env = dict(os.environ if env is None else env)
        get = env.get
        defaults = cls()
        return cls(
            database_url=_database_url(get("COMMPULSE_DATABASE_URL", defaults.database_url)),
            database_pool_size=_count(
                get("COMMPULSE_DATABASE_POOL_SIZE"),
                defaults.database_pool_size,
                "COMMPULSE_DATABASE_POOL_SIZE",
            ),
            broadcast_url=_broadcast_url(get("COMMPULSE_BROADCAST_URL", defaults.broadcast_url)),
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
            host=get("HOST", defaults.host),
            port=_count(get("PORT"), defaults.port, "PORT"),
            auth=_flag(get("COMMPULSE_AUTH", "on"), "COMMPULSE_AUTH"),
            token_recheck=_positive(
                get("COMMPULSE_TOKEN_RECHECK"), defaults.token_recheck, "COMMPULSE_TOKEN_RECHECK"
            ),
            max_depth=_count(get("COMMPULSE_MAX_DEPTH"), defaults.max_depth, "COMMPULSE_MAX_DEPTH"),
            max_aliases=_count(
                get("COMMPULSE_MAX_ALIASES"), defaults.max_aliases, "COMMPULSE_MAX_ALIASES"
            ),
            max_tokens=_count(
                get("COMMPULSE_MAX_TOKENS"), defaults.max_tokens, "COMMPULSE_MAX_TOKENS"
            ),
            max_body_bytes=_count(
                get("COMMPULSE_MAX_BODY_BYTES"), defaults.max_body_bytes, "COMMPULSE_MAX_BODY_BYTES"
            ),
            max_batch=_count(get("COMMPULSE_MAX_BATCH"), defaults.max_batch, "COMMPULSE_MAX_BATCH"),
            max_subscriptions=_count(
                get("COMMPULSE_MAX_SUBSCRIPTIONS"),
                defaults.max_subscriptions,
                "COMMPULSE_MAX_SUBSCRIPTIONS",
            ),
            connection_init_timeout=_positive(
                get("COMMPULSE_CONNECTION_INIT_TIMEOUT"),
                defaults.connection_init_timeout,
                "COMMPULSE_CONNECTION_INIT_TIMEOUT",
            ),
            ws_max_message_bytes=_count(
                get("COMMPULSE_WS_MAX_MESSAGE_BYTES"),
                defaults.ws_max_message_bytes,
                "COMMPULSE_WS_MAX_MESSAGE_BYTES",
            ),
            subscriber_queue=_count(
                get("COMMPULSE_SUBSCRIBER_QUEUE"),
                defaults.subscriber_queue,
                "COMMPULSE_SUBSCRIBER_QUEUE",
            ),
            stream_tail=_count(
                get("COMMPULSE_STREAM_TAIL"), defaults.stream_tail, "COMMPULSE_STREAM_TAIL"
            ),
            rate_limit=_positive(
                get("COMMPULSE_RATE_LIMIT"), defaults.rate_limit, "COMMPULSE_RATE_LIMIT"
            ),
            rate_burst=_count(
                get("COMMPULSE_RATE_BURST"), defaults.rate_burst, "COMMPULSE_RATE_BURST"
            ),
            max_cost=_count(get("COMMPULSE_MAX_COST"), defaults.max_cost, "COMMPULSE_MAX_COST"),
            cost_budget=_count(
                get("COMMPULSE_COST_BUDGET"), defaults.cost_budget, "COMMPULSE_COST_BUDGET"
            ),
            cost_refill=_positive(
                get("COMMPULSE_COST_REFILL"), defaults.cost_refill, "COMMPULSE_COST_REFILL"
            ),
            read_cache=0
            if get("COMMPULSE_READ_CACHE") == "off"
            else _count(get("COMMPULSE_READ_CACHE"), defaults.read_cache, "COMMPULSE_READ_CACHE"),
            graphiql=_flag(get("COMMPULSE_GRAPHIQL", "on"), "COMMPULSE_GRAPHIQL"),
            introspection=_flag(get("COMMPULSE_INTROSPECTION", "on"), "COMMPULSE_INTROSPECTION"),
            field_suggestions=_flag(
                get("COMMPULSE_FIELD_SUGGESTIONS", "on"), "COMMPULSE_FIELD_SUGGESTIONS"
            ),
            metrics=_choice(
                get("COMMPULSE_METRICS", defaults.metrics),
                ("off", "on", "token"),
                "COMMPULSE_METRICS",
            ),
            log_format=_choice(
                get("COMMPULSE_LOG_FORMAT", defaults.log_format),
                ("human", "json"),
                "COMMPULSE_LOG_FORMAT",
            ),
            webhooks=_flag(get("COMMPULSE_WEBHOOKS", "on"), "COMMPULSE_WEBHOOKS"),
            webhook_allow_private=_flag(
                get("COMMPULSE_WEBHOOK_ALLOW_PRIVATE", "off"), "COMMPULSE_WEBHOOK_ALLOW_PRIVATE"
            ),
            **{
                name: _positive(get(variable), getattr(defaults, name), variable)
                for name, variable in _WEBHOOK_SECONDS.items()
            },
        )

    def checked(self) -> Self:
        """Refuse to serve unsafely: no auth anywhere but on loopback. Called before serving."""
        if not self.auth and not is_loopback(self.host):
            raise SettingsError(
                f"COMMPULSE_AUTH=off: refused on HOST={self.host!r}; serving without auth is "
                "allowed only on a loopback address (127.0.0.1, ::1, localhost)"
            )
        if self.webhook_lease <= 2 * self.webhook_timeout:
            raise SettingsError(
                f"COMMPULSE_WEBHOOK_LEASE={self.webhook_lease:g} must be more than twice "
                f"COMMPULSE_WEBHOOK_TIMEOUT={self.webhook_timeout:g}: an instance renews its "
                "lease on an endpoint before each attempt, and must not lose it during one"
            )
        return self


_WEBHOOK_SECONDS = {
    "webhook_timeout": "COMMPULSE_WEBHOOK_TIMEOUT",
    "webhook_retry_first": "COMMPULSE_WEBHOOK_RETRY_FIRST",
    "webhook_retry_most": "COMMPULSE_WEBHOOK_RETRY_MOST",
    "webhook_retry_period": "COMMPULSE_WEBHOOK_RETRY_PERIOD",
    "webhook_lease": "COMMPULSE_WEBHOOK_LEASE",
    "webhook_poll": "COMMPULSE_WEBHOOK_POLL",
}


class SettingsError(ValueError):
    pass


# The database URL schemes served, and the async driver each one means.
DATABASE_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
BROKER_SCHEMES = ("memory", "redis", "rediss", "postgres", "postgresql", "postgresql+asyncpg")


def _scheme(value: str) -> str:
    return value.partition("://")[0].lower() if "://" in value else ""


def _database_url(value: str) -> str:
    """The URL with the async driver spelled out: postgresql:// means asyncpg, sqlite://
    aiosqlite, so a URL copied from psql or another tool works as it is."""
    driver = DATABASE_DRIVERS.get(_scheme(value))
    if driver is None:
        raise SettingsError(
            f"COMMPULSE_DATABASE_URL={redact(value)!r}: unsupported database; expected "
            "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DATABASE"
        )
    return driver + value[value.index("://") :]


def _broadcast_url(value: str) -> str:
    if _scheme(value) not in BROKER_SCHEMES:
        raise SettingsError(
            f"COMMPULSE_BROADCAST_URL={redact(value)!r}: unsupported broker; expected "
            "memory://, redis://HOST:PORT or postgresql://USER@HOST:PORT/DATABASE"
        )
    return value


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, separator, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{place}"


def _flag(value: str, name: str) -> bool:
    return _choice(value.lower(), ("on", "off", "true", "false", "1", "0"), name) in (
        "on",
        "true",
        "1",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _count(value: str | None, default: int, name: str) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a whole number") from None
    if number <= 0:
        raise SettingsError(f"{name}={value!r}: expected a whole number above 0")
    return number


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
