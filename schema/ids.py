"""Opaque ids and cursors. A malformed one decodes to None, which the store calls NOT_FOUND
(ids) or the resolver INVALID_INPUT (cursors): too long, not base64, not UTF-8, numbers
that are not ASCII digits or overflow a BIGINT, a list cursor that is not the JSON we wrote."""

import base64
import binascii
import functools
import json
from datetime import UTC, datetime
from typing import Any

import strawberry

from schema.values import storable

COMMUNICATION = "Communication"
CHANGE = "change"
DELIVERY = "delivery"
PAGE = "page"


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


MAX_LENGTH = 400  # characters of an id or cursor; ours are under 120


def _decode(value: str) -> str | None:
    if len(value) > MAX_LENGTH:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _split(value: str, prefix: str) -> str | None:
    text = _decode(value)
    if text is None or not text.startswith(prefix + ":"):
        return None
    return text[len(prefix) + 1 :]


def _number(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


# The ids of the communications answered lately: a page of 50 encoded 50 (py-spy: 3% of
# such a read), and dashboards ask for the same rows again and again
@functools.lru_cache(maxsize=4096)
def communication_id(pk: int | None) -> strawberry.ID:
    return strawberry.ID(_encode(f"{COMMUNICATION}:{pk}"))


def communication_pk(value: str) -> int | None:
    return _number(_split(value, COMMUNICATION))


def change_cursor(position: tuple[int, int]) -> str:
    tx, seq = position
    return _encode(f"{CHANGE}:{tx}:{seq}")


def change_position(value: str) -> tuple[int, int] | None:
    """A status change's place in the stream, (tx, seq); see store.changes.changes_after."""
    text = _split(value, CHANGE)
    tx, _, seq = (text or "").rpartition(":")
    position = _number(tx), _number(seq)
    return None if position[0] is None or position[1] is None else (position[0], position[1])


def delivery_cursor(key: tuple[int, int]) -> str:
    """An event's place (store.deliveries.EventKey): `seq` for a stored event, as cursors
    always were, and `seq.position` for one a stop's marker stands for."""
    seq, position = key
    return _encode(f"{DELIVERY}:{seq}" + (f".{position}" if position else ""))


def delivery_key(value: str) -> tuple[int, int] | None:
    seq, dot, position = (_split(value, DELIVERY) or "").partition(".")
    key = _number(seq), _number(position) if dot else 0
    return None if key[0] is None or key[1] is None else (key[0], key[1])


def page_cursor(order: str, key: tuple[Any, int]) -> str:
    value, pk = key
    if isinstance(value, datetime):
        value = value.isoformat()
    if isinstance(value, str) and type(pk) is int:  # json.dumps' text, without its machinery:
        quoted = f"[{_quoted(order)}, {_quoted(value)}, {pk}]"  # a list of 50 makes 50
        return _encode(f"{PAGE}:{quoted}")
    return _encode(f"{PAGE}:" + json.dumps([order, value, pk]))


_quoted = json.encoder.encode_basestring_ascii


def page_key(value: str, order: str) -> tuple[Any, int] | None:
    """The position a list cursor names, or None if it is malformed or from another order."""
    text = _split(value, PAGE)
    try:
        field, key, pk = json.loads(text) if text is not None else (None, None, None)
    except (ValueError, TypeError, RecursionError):
        return None
    if field != order or type(pk) is not int or not isinstance(key, str):
        return None
    if not 0 <= pk < 2**63 or not storable(key):
        return None
    if order == "name":
        return key, pk
    try:
        when = datetime.fromisoformat(key)
        return (when.astimezone(UTC) if when.tzinfo else when), pk
    except (ValueError, OverflowError):
        return None


WEBHOOK_ENDPOINT = "WebhookEndpoint"
WEBHOOK_ATTEMPT = "webhookAttempt"


def webhook_endpoint_id(pk: int | None) -> strawberry.ID:
    return strawberry.ID(_encode(f"{WEBHOOK_ENDPOINT}:{pk}"))


def webhook_endpoint_pk(value: str) -> int | None:
    return _number(_split(value, WEBHOOK_ENDPOINT))


def webhook_attempt_cursor(pk: int | None) -> str:
    return _encode(f"{WEBHOOK_ATTEMPT}:{pk}")


def webhook_attempt_pk(value: str) -> int | None:
    return _number(_split(value, WEBHOOK_ATTEMPT))
