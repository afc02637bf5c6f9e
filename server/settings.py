"""Settings, read from the environment once. Every default serves one machine out of the box.

Each setting is declared once, below: its variable, type, default, bounds and meaning. The
README's table is generated from these declarations (`commpulse settings --markdown`), and a
test keeps the two equal."""

import ipaddress
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


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
FLAGS = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}


def _scheme(value: str) -> str:
    return value.partition("://")[0].lower() if "://" in value else ""


def _database_url(value: str) -> str:
    """The URL with the async driver spelled out: postgresql:// means asyncpg, sqlite://
    aiosqlite, so a URL copied from psql or another tool works as it is."""
    driver = DATABASE_DRIVERS.get(_scheme(value))
    if driver is None:
        raise ValueError(
            "unsupported database; expected "
            "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DATABASE"
        )
    return driver + value[value.index("://") :]


def _broadcast_url(value: str) -> str:
    if _scheme(value) not in BROKER_SCHEMES:
        raise ValueError(
            "unsupported broker; expected "
            "memory://, redis://HOST:PORT or postgresql://USER@HOST:PORT/DATABASE"
        )
    return value


def _flag(value: object) -> object:
    if isinstance(value, str):
        if value.lower() not in FLAGS:
            raise ValueError(f"expected one of {', '.join(FLAGS)}")
        return FLAGS[value.lower()]
    return value


def _list(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _off_is_zero(value: object) -> object:
    return 0 if isinstance(value, str) and value.lower() == "off" else value


Count = Annotated[int, Field(gt=0)]  # a whole number above 0
Number = Annotated[float, Field(gt=0)]  # a number above 0: seconds, rates
Flag = Annotated[bool, BeforeValidator(_flag)]  # on/off, true/false, 1/0
Names = Annotated[tuple[str, ...], BeforeValidator(_list)]  # comma-separated
ReadCache = Annotated[int, BeforeValidator(_off_is_zero), Field(ge=0)]  # entries, or `off`
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
BrokerUrl = Annotated[str, AfterValidator(_broadcast_url)]


def setting(variable: str, default: Any, meaning: str) -> Any:
    """One setting: the environment variable it is read from, its default, what it means."""
    return Field(default, validation_alias=variable, description=meaning)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True)

    database_url: DatabaseUrl = setting(
        "COMMPULSE_DATABASE_URL",
        "sqlite+aiosqlite:///./commpulse.db",
        "where data lives: a SQLite file, or `postgresql+asyncpg://user@host:5432/db` "
        "(`postgresql://` and `sqlite://` mean the same drivers)",
    )
    database_pool_size: Count = setting(
        "COMMPULSE_DATABASE_POOL_SIZE",
        30,
        "PostgreSQL connections each instance opens at most, each kept open once opened",
    )
    broadcast_url: BrokerUrl = setting(
        "COMMPULSE_BROADCAST_URL",
        "memory://",
        "live notices: `memory://` (one process), `redis://host:port`, or "
        "`postgresql://user@host/db` (LISTEN/NOTIFY)",
    )
    allowed_origins: Names = setting(
        "COMMPULSE_ALLOWED_ORIGINS",
        (),
        "comma-separated origins whose pages may open websockets (`*` for any); same-origin "
        "and non-browser clients are always allowed",
    )
    auth: Flag = setting(
        "COMMPULSE_AUTH",
        True,
        "`off` serves everyone as `admin` (actor `local`): only with a loopback `HOST`, for a "
        "local session (`make run` sets it)",
    )
    token_recheck: Number = setting(
        "COMMPULSE_TOKEN_RECHECK",
        2.0,
        "seconds between re-checks of open websockets' tokens (a revocation notice closes "
        "them at once anyway)",
    )
    max_depth: Count = setting("COMMPULSE_MAX_DEPTH", 12, "deepest selection nesting")
    max_aliases: Count = setting(
        "COMMPULSE_MAX_ALIASES", 30, "aliases in one document, counted through fragment spreads"
    )
    max_tokens: Count = setting("COMMPULSE_MAX_TOKENS", 5_000, "lexical tokens in one document")
    max_body_bytes: Count = setting(
        "COMMPULSE_MAX_BODY_BYTES", 2_000_000, "an HTTP request body; larger gets 413"
    )
    max_batch: Count = setting(
        "COMMPULSE_MAX_BATCH",
        10,
        "operations in one batched request (a JSON array); more gets 400",
    )
    max_subscriptions: Count = setting(
        "COMMPULSE_MAX_SUBSCRIPTIONS", 100, "operations running at once on one websocket"
    )
    connection_init_timeout: Number = setting(
        "COMMPULSE_CONNECTION_INIT_TIMEOUT",
        10.0,
        "seconds a websocket may take to send `connection_init` (then 4408)",
    )
    ws_max_message_bytes: Count = setting(
        "COMMPULSE_WS_MAX_MESSAGE_BYTES",
        1_000_000,
        "one websocket message (then closed with 1009); applied by `commpulse serve`",
    )
    # Off by default: its zlib state is most of what an idle websocket costs (bench.fanout
    # at 1,000 subscribers: 98 KiB each with it, 55 KiB without; the raw anchor 59 and 26),
    # and the frames a dashboard gets are a few hundred bytes. On: large frames (a
    # communication's html or body) travel smaller, for the memory of every socket.
    ws_per_message_deflate: Flag = setting(
        "COMMPULSE_WS_PER_MESSAGE_DEFLATE",
        False,
        "offer permessage-deflate on websockets: smaller large frames, for about 40 KiB of "
        "zlib state on every socket; applied by `commpulse serve`",
    )
    ws_implementation: Literal["wsproto", "websockets-sansio"] = setting(
        "COMMPULSE_WS_IMPLEMENTATION",
        "wsproto",
        "uvicorn's websocket implementation: `wsproto`, the lightest (about 7 KiB less per "
        "idle socket than `websockets-sansio`, uvicorn's own default: `server/websockets.py` "
        "slims its state); applied by `commpulse serve`",
    )
    subscriber_queue: Count = setting(
        "COMMPULSE_SUBSCRIBER_QUEUE",
        1_000,
        "changes waiting for one `statusChanged` subscriber, and frames waiting for any "
        "subscriber's socket; one that falls further behind gets the error `SLOW_CONSUMER` "
        "and resubscribes (`statusChanged` with `after:` its last cursor)",
    )
    stream_tail: Count = setting(
        "COMMPULSE_STREAM_TAIL",
        10_000,
        "recent changes kept in memory: a subscriber resuming from inside them reads nothing "
        "from the database",
    )
    rate_limit: Number = setting(
        "COMMPULSE_RATE_LIMIT",
        20.0,
        "operations a second per token, sustained, unless the token has its own `--rate` "
        "(shared by instances with Redis)",
    )
    rate_burst: Count = setting(
        "COMMPULSE_RATE_BURST",
        100,
        "operations a token may make at once before the sustained rate applies",
    )
    max_cost: Count = setting(
        "COMMPULSE_MAX_COST",
        25_000,
        "the most one operation may cost (a page of 100 communications with a history page "
        "of 100 in each costs 20,301)",
    )
    cost_budget: Count = setting(
        "COMMPULSE_COST_BUDGET", 50_000, "cost points a token may spend at once"
    )
    cost_refill: Number = setting(
        "COMMPULSE_COST_REFILL", 2_500.0, "cost points a second given back to each token's budget"
    )
    read_cache: ReadCache = setting(
        "COMMPULSE_READ_CACHE",
        1_000,
        "query results kept for repeated reads, dropped on every change (schema/readcache.py); "
        "`off` turns the cache off",
    )
    graphiql: Flag = setting(
        "COMMPULSE_GRAPHIQL", True, "the GraphiQL page on a browser's GET; `off` for production"
    )
    introspection: Flag = setting(
        "COMMPULSE_INTROSPECTION",
        True,
        "schema introspection; `off` for production (`__typename` still works)",
    )
    field_suggestions: Flag = setting(
        "COMMPULSE_FIELD_SUGGESTIONS", True, '"Did you mean …" in errors; `off` for production'
    )
    scheduler_enabled: Flag = setting(
        "COMMPULSE_SCHEDULER",
        True,
        "`off` leaves scheduled communications alone (another instance schedules)",
    )
    scheduler_interval: Number = setting(
        "COMMPULSE_SCHEDULER_INTERVAL",
        0.5,
        "seconds between looks for new schedules, at most; due times are slept to exactly",
    )
    sender: Literal["simulated", "none"] = setting(
        "COMMPULSE_SENDER",
        "simulated",
        "`simulated` runs `SimulatedSender`; `none` leaves SENDING campaigns to outside workers",
    )
    simulated_send_rate: Number = setting(
        "COMMPULSE_SIMULATED_SEND_RATE",
        50.0,
        "recipients per second the simulated sender hands out, per campaign",
    )
    sender_interval: Number = setting(
        "COMMPULSE_SENDER_INTERVAL",
        0.5,
        "seconds between progress updates of the simulated sender",
    )
    lease_seconds: Number = setting(
        "COMMPULSE_LEASE_SECONDS",
        60.0,
        "how long claimed recipients stay with a worker when `claimRecipients` gives no "
        "`leaseSeconds`",
    )
    stalled_after: Number = setting(
        "COMMPULSE_STALLED_AFTER",
        60.0,
        "seconds of SENDING without progress before a campaign shows `stalled: true`",
    )
    metrics: Literal["off", "on", "token"] = setting(
        "COMMPULSE_METRICS",
        "off",
        "`/metrics` in Prometheus' format: `off`, `on` (open to whoever reaches it) or "
        "`token` (any API token, as `Authorization: Bearer`)",
    )
    log_format: Literal["human", "json"] = setting(
        "COMMPULSE_LOG_FORMAT",
        "human",
        "`json`: one JSON object a line, with the request id and the token name",
    )
    webhooks: Flag = setting(
        "COMMPULSE_WEBHOOKS",
        True,
        "this instance delivers webhooks (each endpoint by one instance at a time)",
    )
    webhook_allow_private: Flag = setting(
        "COMMPULSE_WEBHOOK_ALLOW_PRIVATE",
        False,
        "webhook URLs may reach private and loopback addresses (tests, a local receiver); "
        "never in production",
    )
    webhook_timeout: Number = setting(
        "COMMPULSE_WEBHOOK_TIMEOUT", 5.0, "seconds for one delivery attempt"
    )
    webhook_retry_first: Number = setting(
        "COMMPULSE_WEBHOOK_RETRY_FIRST",
        1.0,
        "seconds before the first retry; each later wait doubles, up to "
        "`COMMPULSE_WEBHOOK_RETRY_MOST`",
    )
    webhook_retry_most: Number = setting(
        "COMMPULSE_WEBHOOK_RETRY_MOST", 3600.0, "seconds between two attempts, at most"
    )
    webhook_retry_period: Number = setting(
        "COMMPULSE_WEBHOOK_RETRY_PERIOD",
        7 * 24 * 3600.0,
        "seconds of failing before an endpoint is `FAILING` (7 days)",
    )
    webhook_lease: Number = setting(
        "COMMPULSE_WEBHOOK_LEASE",
        30.0,
        "seconds an instance holds an endpoint between renewals; more than twice the timeout",
    )
    webhook_poll: Number = setting(
        "COMMPULSE_WEBHOOK_POLL",
        1.0,
        "seconds between looks for undelivered changes without a notice",
    )
    host: str = setting(
        "HOST", "127.0.0.1", "where `make run` / `commpulse serve` listen (`--host` overrides)"
    )
    port: Count = setting(
        "PORT", 8000, "the port `make run` / `commpulse serve` listen on (`--port` overrides)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # from_env hands the variables over as the strings they are: pydantic-settings' own
        # environment source would read os.environ where a test gives a mapping of its own,
        # and would decode a list as JSON where we split on commas
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """The settings the environment (or `env`) asks for; SettingsError names the first
        variable whose value is refused."""
        environ = os.environ if env is None else env
        given: dict[str, Any] = {v: environ[v] for v in VARIABLES.values() if v in environ}
        try:
            return cls(**given)
        except ValidationError as error:
            raise SettingsError(_explain(error.errors()[0])) from None

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


VARIABLES = {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}


def _explain(error: ErrorDetails) -> str:
    """One line in the words a person setting a variable uses: `NAME='value': expected …`."""
    variable = str(error["loc"][0])
    name = next(name for name, alias in VARIABLES.items() if alias == variable)
    whole = Settings.model_fields[name].annotation is int
    kind = "a whole number" if whole else "a number"
    reasons = {
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "float_parsing": "expected a number",
        "greater_than": f"expected {kind} above 0",
        "greater_than_equal": "expected a whole number, or off",
        "literal_error": "expected one of "
        + ", ".join(get_args(Settings.model_fields[name].annotation)),
    }
    if error["type"] == "value_error":
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        reason = reasons.get(error["type"], error["msg"])
    return f"{variable}={redact(str(error['input']))!r}: {reason}"


def markdown() -> str:
    """The README's settings table."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{VARIABLES[name]}` | {_shown(field.default)} | {field.description} |")
    return "\n".join(rows) + "\n"


def plain() -> str:
    """Every setting as VARIABLE=default, its meaning beneath: a start for an environment file."""
    return "".join(
        f"{VARIABLES[name]}={_value(field.default)}\n    {field.description}\n"
        for name, field in Settings.model_fields.items()
    )


def _shown(default: object) -> str:
    return f"`{_value(default)}`" if default != () else "empty"


def _value(default: object) -> str:
    """A default as it is written in the environment."""
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, tuple):
        return ",".join(default)
    return f"{default:g}" if isinstance(default, float) else str(default)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, separator, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{place}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
