"""Repeated reads answered from the read cache (schema/readcache.py) before strawberry runs.

A dashboard polls the same query with the same variables: its answer is in the cache, and
running strawberry's pipeline to fetch it (a dozen extensions, each wrapping each phase)
would cost more than the answer itself. Here an HTTP POST whose query, operation, variables
and role name a fresh cached result gets it at once, after what must still happen for
every operation: the token is identified (401 as before), the operation is counted against
the token's rate and its cost taken from the budget, as RateLimit and Cost do, and
`extensions.cost` reports them. Whatever else (a miss, a refusal, a batch, GET, a body that
is not a JSON object) goes the full way, which answers it as before. Only the successful
answer of a query whose document was parsed, validated and checked when it was cached can
be found here: the same text with the same variables passes the same checks.

Not used while metrics or traces are on: both observe every operation inside strawberry.
"""

import json
import math
from contextvars import ContextVar
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from schema.limits import Buckets, Limits
from schema.readcache import ReadCache, charge, key_of
from server import http, logs
from server.auth import Auth

# The body this request's task decoded here, and what it decoded to: a miss goes on to
# strawberry, which would decode it again (`decoded`, server/app.py `parse_http_body`)
_DECODED: ContextVar[tuple[bytes, dict[str, Any]] | None] = ContextVar("decoded", default=None)


def decoded(body: bytes | str) -> dict[str, Any] | None:
    """What `CachedAnswers.answer` decoded from this very body (the same object), or None."""
    found = _DECODED.get()
    return found[1] if found is not None and found[0] is body else None


class CachedAnswers:
    def __init__(self, cache: ReadCache, auth: Auth, buckets: Buckets, limits: Limits) -> None:
        self.cache = cache
        self.auth = auth
        self.buckets = buckets
        self.limits = limits

    async def answer(self, request: Request, media_type: str) -> Response | None:
        """The cached answer to this request, or None: serve it the full way."""
        if request.method != "POST" or "json" not in request.headers.get("content-type", ""):
            return None
        body = await request.body()  # kept by the request: the full way reads it again
        if not body.lstrip().startswith(b"{"):
            return None
        try:
            sent = http.decode_json(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        query, name, variables = sent.get("query"), sent.get("operationName"), sent.get("variables")
        if not (
            isinstance(query, str)
            and isinstance(name, str | None)
            and isinstance(variables, dict | None)
            and not sent.get("extensions")
        ):
            return None
        _DECODED.set((body, sent))
        store = request.state.store
        identity = await self.auth.http(store, request)  # Unauthenticated: 401, as before
        stamp = await self.cache.stamp(store)
        key = key_of(query, name, variables, identity.role)
        entry = None if stamp is None else self.cache.get(key, stamp)
        if entry is None:
            request.state.read_stamp = stamp  # the full path stores under it (one mark read)
            return None
        left = await charge(self.buckets, self.limits, identity.name, identity.rate, entry)
        if left is None:
            return None
        logs.TOKEN.set(identity.name)
        cost = {"requested": entry.requested, "actual": entry.actual, "remaining": math.floor(left)}
        extensions = json.dumps({"cost": cost}, separators=(",", ":")).encode()
        body = b'{"data":' + entry.encoded + b',"extensions":' + extensions + b"}"
        return Response(body, media_type=media_type)
