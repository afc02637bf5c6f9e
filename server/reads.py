"""Reads of a known query answered before strawberry runs: from the read cache
(schema/readcache.py), or, for a miss, run here (schema/prepared.py).

A dashboard polls the same query with the same variables: its answer is in the cache, and
running strawberry's pipeline to fetch it (a dozen extensions, each wrapping each phase)
would cost more than the answer itself. A list paged by cursor, or one item after another,
sends the same query with other variables: a miss, but of a query the full path has run
before, whose parse, validation and checks on the document are done. Here an HTTP POST
whose query, operation, variables and role name a fresh cached result gets it at once; one
whose query is prepared is run without strawberry. Before either, what must happen for
every operation: the token is identified (401 as before), and each check that depends on
the request, the operation counted against the token's rate and its cost taken from the
budget, as RateLimit and Cost do; `extensions.cost` reports them. Whatever else (a query
not yet prepared, a refusal, an error, a batch, GET, a body that is not a JSON object) goes
the full way, which answers it as before. Only the successful answer of a query whose
document was parsed, validated and checked on the full path can come from here: the same
text passes the same parse and validation again.

A mutation whose document is prepared (it ran cleanly on the full path) is run here too,
after the same identification, unless it carries an Idempotency-Key header (the
Idempotency extension keeps those): schema/prepared.py `Writes` answers it, or leaves it
to the full path having run nothing.

Not used while metrics or traces are on: both observe every operation inside strawberry.
"""

import json
import math
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response

from schema.context import Context
from schema.prepared import Reads, Writes
from schema.readcache import Prepared, charge, key_of
from server import http, logs
from server.auth import Auth, Identity

# The body this request's task decoded here, and what it decoded to: a miss goes on to
# strawberry, which would decode it again (`decoded`, server/app.py `parse_http_body`)
_DECODED: ContextVar[tuple[bytes, dict[str, Any]] | None] = ContextVar("decoded", default=None)


def decoded(body: bytes | str) -> dict[str, Any] | None:
    """What `KnownReads.answer` decoded from this very body (the same object), or None."""
    found = _DECODED.get()
    return found[1] if found is not None and found[0] is body else None


class KnownReads:
    def __init__(
        self,
        reads: Reads,
        writes: Writes,
        auth: Auth,
        context: Callable[[Request, Identity], Context],
    ) -> None:
        self.reads = reads
        self.writes = writes
        self.cache = reads.cache
        self.auth = auth
        self.context = context  # the resolvers' context, as the full path makes it

    async def answer(self, request: Request, media_type: str) -> Response | None:
        """The answer to this request, from the cache or run here, or None: serve it the
        full way."""
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
        prepared = self.cache.prepared((query, name))
        writes = prepared is not None and prepared.operation.operation is OperationType.MUTATION
        if query.lstrip().startswith("mutation") and not writes:  # the full way prepares it
            return None
        store = request.state.store
        identity = await self.auth.http(store, request)  # Unauthenticated: 401, as before
        logs.TOKEN.set(identity.name)
        if writes:
            assert prepared is not None
            return await self._write(request, prepared, variables, identity, media_type)
        stamp = await self.cache.stamp(store)
        if stamp is None:
            return None
        key = key_of(query, name, variables, identity.role)
        entry, left = self.cache.get(key, stamp), None
        if entry is not None:
            reads = self.reads
            left = await charge(reads.buckets, reads.limits, identity.name, identity.rate, entry)
        elif prepared is not None:
            context = self.context(request, identity)
            if ran := await self.reads.run(prepared, variables, context, key, stamp):
                entry, left = ran
        if entry is None or left is None:
            request.state.read_stamp = stamp  # the full path stores under it (one mark read)
            return None
        cost = {"requested": entry.requested, "actual": entry.actual, "remaining": math.floor(left)}
        extensions = json.dumps({"cost": cost}, separators=(",", ":")).encode()
        body = b'{"data":' + entry.encoded + b',"extensions":' + extensions + b"}"
        return Response(body, media_type=media_type)

    async def _write(
        self,
        request: Request,
        prepared: Prepared,
        variables: dict[str, Any] | None,
        identity: Identity,
        media_type: str,
    ) -> Response | None:
        """A known mutation's answer, run here; None for the full way (an Idempotency-Key,
        which that way's extension keeps, or a refusal before it ran)."""
        if "idempotency-key" in request.headers:
            return None
        context = self.context(request, identity)
        answer = await self.writes.run(prepared, variables, context)
        if answer is None:
            return None
        return Response(json.dumps(answer, separators=(",", ":")), media_type=media_type)
