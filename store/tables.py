"""Tables: one row per communication, one row per status change (history and outbox),
recipients and their delivery events, and the API tokens."""

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    SmallInteger,
    Table,
    TypeDecorator,
    text,
)
from sqlmodel import Field, SQLModel

from store.lifecycle import Kind, Origin, Status


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        """On SQLite, whose datetimes come back as text, `datetime.fromisoformat` reads it
        (in C, where SQLAlchemy's processor matches a regex and this type's wraps it: py-spy,
        a fifth of a page's reader thread); anything else the usual way.

        The text is naive UTC (`process_bind_param`), so it is read with "+00:00" appended:
        that gives an aware UTC datetime in one call, where `replace(tzinfo=UTC)` after
        reading cost four times the reading (timeit: 0.2 against 1.1 us, 102 of them a page
        of 50). Text that already names an offset is read the usual way."""
        usual = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or usual is None:
            return usual
        fromisoformat = datetime.fromisoformat

        def process(value: Any) -> datetime | None:
            if isinstance(value, str):
                try:
                    return fromisoformat(value + "+00:00")
                except ValueError:
                    return self.process_result_value(fromisoformat(value), dialect)
            return usual(value)

        return process


def utcnow() -> datetime:
    return datetime.now(UTC)


class Communication(SQLModel, table=True):
    __tablename__ = "communication"
    __table_args__ = (
        Index("ix_communication_status_start_at", "status", "start_at"),
        Index("ix_communication_status_end_at", "status", "end_at"),
        Index("ix_communication_created_at_id", "created_at", "id"),  # keyset pages, each order
        # its entries carry what a search tests, after the keys a page is ordered by
        # (store/communications.py, _in_index; migration 0013)
        Index(
            "ix_communication_updated_at_id",
            "updated_at",
            "id",
            "name",
            postgresql_include=["deleted_at"],
        ),
        Index("ix_communication_name_id", "name", "id"),
        # pages by name of some kinds, or of some origins (store/communications.py, _coarse)
        Index("ix_communication_kind_name_id", "kind", "name", "id"),
        Index("ix_communication_origin_name_id", "origin", "name", "id"),
        Index("ix_communication_slug", "slug", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    origin: str
    status: str
    name: str
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    content: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    slug: str | None = None  # landing pages only; unique among live ones
    # message campaigns: audience_size = pending + handed_off + sent + not_sent, kept in the
    # same transactions that move recipients (store/deliveries.py)
    audience_size: int | None = None
    synthetic_audience: bool = False  # made from audienceSize alone, for demos and benchmarks
    pending_count: int = 0
    handed_off_count: int = 0
    sent_count: int = 0
    not_sent_count: int = 0
    # display types: statistics counted while ACTIVE
    shown_count: int = 0
    clicked_count: int = 0  # display types' clicks; message campaigns' clicked events
    # message campaigns: the provider's events after a send (store/deliveries.py, AFTER_COUNTER)
    delivered_count: int = 0
    deferred_count: int = 0
    opened_count: int = 0
    bounced_count: int = 0
    complained_count: int = 0
    unsubscribed_count: int = 0
    progress_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # claimNext's turns
    status_reason: str | None = None
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The UTC day of created_at (days since 1970-01-01), kept by the database itself (triggers,
# migration 0008) for every writer: pages in another order than created_at with a created
# window read one range per day (store/communications.py, `_spans`). The code never writes
# or reads it as a field: it is on the table, not on the model, and whole-row reads
# (`COLUMNS`) leave it out.
COMMUNICATION: Table = Communication.__table__  # type: ignore[attr-defined]
COLUMNS = [c for c in COMMUNICATION.c]  # the model's, before created_day is added
COMMUNICATION.append_column(Column("created_day", Integer, nullable=True))
# created_week: created_day divided by 7, kept by the database too (migration 0011), so that
# a long window reads a range a whole week (store/communications.py, `_spans`)
COMMUNICATION.append_column(Column("created_week", Integer, nullable=True))
for _order in ("updated_at", "name"):
    Index(f"ix_communication_created_day_{_order}", COMMUNICATION.c.created_day, _order, "id")
    Index(f"ix_communication_created_week_{_order}", COMMUNICATION.c.created_week, _order, "id")

# `facet`: the (kind, status, origin) of a row as one number, computed by the database from
# the row for every writer (migration 0010). A page filtered on kind, status or origin reads
# one range of (facet, order, id) per combination it admits (store/communications.py,
# `_arms`): one small number before the order's column, where (kind, status, origin, order,
# id) made every step of each range's index descent compare three strings first.
COMMUNICATION.append_column(Column("facet", SmallInteger, nullable=True))
for _order in ("created_at", "updated_at", "name"):
    Index(f"ix_communication_facet_{_order}", COMMUNICATION.c.facet, _order, "id")
_KINDS, _STATUSES, _ORIGINS = tuple(Kind), tuple(Status), tuple(Origin)


def facet(kind: Kind, status: Status, origin: Origin) -> int:
    """The `facet` the database computes for a row of this kind, status and origin: each
    by its place in its enum, as migration 0010 lists them (tests/store/test_facets.py)."""
    return (_KINDS.index(kind) * 16 + _STATUSES.index(status)) * 4 + _ORIGINS.index(origin)


_MANAGER = Communication._sa_class_manager  # type: ignore[attr-defined]
_STATE = _MANAGER._state_constructor  # InstanceState
_new = object.__new__
_set = object.__setattr__


def filled(columns: Mapping[Any, Any] | Iterable[tuple[str, Any]]) -> Communication:
    """A `Communication` from its columns as RETURNING or a SELECT hands them back, filled in
    as the ORM's loader fills one: no validation (the database's values are the truth) and
    no session. Such a row is for reading and for answers; writes go by id
    (store/writes.py), so none is ever added to a session.

    Made as the class manager's `new_instance` makes one (SQLModel's `__new__`: pydantic's
    three private slots; then its InstanceState), written out: through those calls, 51
    rows of a page took about 5% of it by py-spy, a quarter less this way."""
    made: Communication = _new(Communication)
    _set(made, "__pydantic_fields_set__", set())
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    made.__dict__["_sa_instance_state"] = _STATE(made, _MANAGER)
    made.__dict__.update(columns)
    return made


class StatusCount(SQLModel, table=True):
    """How many live communications have each (kind, status, origin): the sum of `n` over
    its rows. Kept by triggers on `communication` (migration 0008), so every write path is
    counted, including those that write no status through the store's code. On SQLite, one
    row a key (slot 0). On PostgreSQL each writing transaction adds to rows of its own
    (slot: its transaction id), so that concurrent transitions never wait for one counter
    row; from time to time a writer folds the committed ones into slot 0
    (`status_count_compact()`). A read sums what it finds: at most a few hundred rows."""

    __tablename__ = "status_count"

    kind: str = Field(primary_key=True)
    status: str = Field(primary_key=True)
    origin: str = Field(primary_key=True)
    slot: int = Field(default=0, primary_key=True, sa_type=BigInteger)
    n: int = Field(default=0, sa_type=BigInteger)


class NameGram(SQLModel, table=True):
    """A live communication's name holds `gram`: one row per distinct 3-character slice of
    lower(name), with the communication's name and id, so that the primary key lists the
    rows holding a gram in name order. Kept by triggers on `communication` (migration
    0009) for every writer; read by a page with a search in name order (store/grams.py).
    On SQLite the table has no rowid: the primary key is the table."""

    __tablename__ = "name_gram"
    __table_args__ = {"sqlite_with_rowid": False}

    gram: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})


class StatusEvent(SQLModel, table=True):
    """A status change. Streams read these in (tx, seq) order: see store/changes.py."""

    __tablename__ = "status_event"
    __table_args__ = (
        Index("ix_status_event_communication_seq", "communication_id", "seq"),
        Index("ix_status_event_position", "tx", "seq"),
    )

    seq: int | None = Field(default=None, primary_key=True)
    tx: int = Field(default=0, sa_type=BigInteger)  # the writing transaction's id (PostgreSQL)
    communication_id: int = Field(foreign_key="communication.id")
    kind: str
    action: str
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None = None
    version: int
    at: datetime = Field(sa_type=UTCDateTime)


class Recipient(SQLModel, table=True):
    """One profile in a message campaign's audience, and how far its delivery got."""

    __tablename__ = "recipient"
    __table_args__ = (
        Index("ix_recipient_state", "communication_id", "state", "position"),
        Index("ix_recipient_profile", "communication_id", "profile_id", unique=True),
        Index("ix_recipient_lease", "lease_id"),
        # expired leases of every campaign, for the requeue and claimNext (store/deliveries.py)
        Index("ix_recipient_lease_until", "state", "lease_until"),
        Index("ix_recipient_provider_message", "provider_message_id"),
    )

    communication_id: int = Field(foreign_key="communication.id", primary_key=True)
    position: int = Field(primary_key=True)
    profile_id: str
    state: str  # PENDING, HANDED_OFF, SENT, NOT_SENT
    worker_id: str | None = None
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # the last claim's lease: kept after a requeue or a final outcome, replaced by a new claim
    lease_id: str | None = None
    provider_message_id: str | None = None  # from the report: later webhooks are matched by it


class DeliveryEvent(SQLModel, table=True):
    """A recipient's final outcome (message.send, sms.notSent, ...), a provider's later event
    (message.delivered, ...) or a display event. A repeated `event_id` is not recorded."""

    __tablename__ = "delivery_event"
    __table_args__ = (
        Index("ix_delivery_event_communication_seq", "communication_id", "seq"),
        Index("ix_delivery_event_name", "communication_id", "name", "seq"),
        Index("ix_delivery_event_recipient", "communication_id", "recipient_id", "seq"),
        Index("ix_delivery_event_event_id", "communication_id", "event_id", unique=True),
        Index(
            "ix_delivery_event_unfinished",
            "communication_id",
            unique=True,
            sqlite_where=text("unfinished = 1"),  # as SQLAlchemy writes the test
            postgresql_where=text("unfinished"),
        ),
    )

    seq: int | None = Field(default=None, primary_key=True)
    communication_id: int = Field(foreign_key="communication.id")
    recipient_id: str
    name: str
    at: datetime = Field(sa_type=UTCDateTime)  # the time at the provider, or the display's
    info: str | None = None
    event_id: str | None = None  # the sender's id for it; final outcomes have none
    provider_message_id: str | None = None
    failure_class: str | None = None  # a NOT_SENT's reason: HARD_BOUNCE, ...
    failure_code: str | None = None  # the provider's own code, e.g. SMTP 550
    # a stop's or failure's one row standing for the not-sent event of every recipient still
    # PENDING or HANDED_OFF then, read as one event each (store/audience.py, `unsent`)
    unfinished: bool = False


class ApiToken(SQLModel, table=True):
    """A named API token with one role. Only the SHA-256 of its secret is kept."""

    __tablename__ = "api_token"
    __table_args__ = (
        Index("ix_api_token_name", "name", unique=True),
        Index("ix_api_token_hash", "hash", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str
    role: str  # viewer, editor, sender or admin (store/tokens.py)
    hash: str  # sha256 hex of the secret; the secret itself is shown once and never stored
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rate: float | None = None  # operations a second of its own; None: COMMPULSE_RATE_LIMIT


class IdempotencyKey(SQLModel, table=True):
    """A mutation's first response, kept for a day per token and key (store/idempotency.py).
    `response` is None while the first request with the key still runs."""

    __tablename__ = "idempotency_key"
    __table_args__ = (Index("ix_idempotency_key_expires_at", "expires_at"),)

    owner: str = Field(primary_key=True)  # the token's name
    key: str = Field(primary_key=True)
    fingerprint: str  # sha256 of the operation, its name and its variables
    response: dict[str, Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class WebhookEndpoint(SQLModel, table=True):
    """Where status changes are pushed, and the cursor row its one sender holds a lease on
    (store/webhooks.py). The secret signs; it is shown once when the endpoint is made."""

    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    url: str
    secret: str  # whsec_…, kept in clear: every delivery is signed with it
    kinds: list[str] | None = Field(default=None, sa_type=JSON(none_as_null=True))  # None: all
    statuses: list[str] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    state: str = "ACTIVE"  # ACTIVE, or FAILING after retrying for the configured period
    cursor_tx: int = Field(default=0, sa_type=BigInteger)  # the last change delivered or
    cursor_seq: int = 0  # skipped, as (tx, seq): see store/changes.py
    lease_owner: str | None = None  # the instance delivering now
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0  # failed attempts at the change after the cursor
    failing_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One attempt to deliver one change to one endpoint: the delivery log."""

    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_endpoint", "endpoint_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id")
    message_id: str  # the webhook-id header: the same for every attempt at one change
    event_tx: int = Field(sa_type=BigInteger)
    event_seq: int
    communication_id: int
    at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = None
    latency_ms: float
    error: str | None = None
    delivered: bool
