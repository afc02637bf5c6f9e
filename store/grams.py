"""A page with a search in name order, read from the grams of names (name_gram, kept by
triggers: migration 0009) instead of testing each row after the cursor.

A name that holds the search holds each of the search's grams, so its rows are in every
one of the grams' lists (name_gram's primary key: gram, name, id). The page's statement
walks those lists in name order from the cursor, leapfrogging: the next candidate is the
furthest of each list's first name past the last one, since no name before it is in
every list; a candidate's rows are then counted by the page's own conditions (the
search's LIKE among them), one seek by name. It stops once it has counted a page of rows,
or a list runs out. A step costs one index seek a gram and one by name, so a page costs
about the same at any size, where testing each row after a cursor read the rest of the
table when the search matched nothing there (bench/large_lists.py: 'campaign 7' after a
cursor late in name order).

The grams only ever let through names that the LIKE then tests: a name holding the search
holds each gram made by `of`, so the walk never passes over one.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)

from store import reading
from store.tables import COMMUNICATION, NameGram

GRAM = 3  # migration 0009's
GRAMS_MAX = 3  # a search's grams the walk seeks in, spread over it (see `of`)
NAME_GRAM = NameGram.__table__  # type: ignore[attr-defined]
ZERO, ONE = literal_column("0", Integer), literal_column("1", Integer)


def of(search: str) -> list[str]:
    """The grams of `search` a name that holds it must hold in name_gram: at most
    GRAMS_MAX distinct ones, spread from its first to its last, or none when it has no
    gram to look up (shorter than GRAM, say). `search` is as the LIKE matches it (stripped).

    The database lowers the names for name_gram and the LIKE (lower() on both sides), and
    this must agree with it: a gram made here that the database would lower otherwise could
    miss a row. So a gram is made only of characters whose lowering is certain: ASCII
    letters, which every lower() folds to a-z, and characters Python leaves as they are
    (digits, spaces, punctuation, lower-case and uncased letters), which the assumption is
    every lower() leaves too, one character to one. That holds for SQLite's lower() (ASCII
    only) and PostgreSQL's under a libc locale (its ILIKE lowers both sides with lower() in
    a UTF-8 database); under an ICU or a Turkish locale ('I' to a dotless i) it does not.
    An upper-case non-ASCII letter ('Ä': SQLite keeps it, PostgreSQL and Python lower it)
    breaks the slices that hold it: fewer grams only means more candidates tested.
    """
    folded = [_folded(c) for c in search]
    found: list[str] = []
    for start in range(len(folded) - GRAM + 1):
        window = folded[start : start + GRAM]
        if all(c is not None for c in window):
            gram = "".join(c for c in window if c is not None)
            if gram not in found:
                found.append(gram)
    if len(found) <= GRAMS_MAX:
        return found
    last = len(found) - 1
    return [found[round(n * last / (GRAMS_MAX - 1))] for n in range(GRAMS_MAX)]


def _folded(c: str) -> str | None:
    if "A" <= c <= "Z":
        return c.lower()
    return c if c.lower() == c else None


def values(grams: Sequence[str]) -> dict[str, str]:
    return {f"gram_{n}": gram for n, gram in enumerate(grams)}


def page(
    grams: int,
    where: list[ColumnElement[bool]],
    start: tuple[Any, Any] | None,
    end: tuple[Any, Any] | None,
    descending: bool,
    limit: int,
) -> Select[Any]:
    """The first `limit` rows, in (name, id) order (descending: reversed), that `where`
    (the search's LIKE among its conditions) admits among the names holding each of `grams`
    grams (bound as gram_0, gram_1, ...), after the cursor `start` and before `end`, each a
    (name, id) or None (from the first name, to the last).

    Each step of the walk holds a candidate, `at`: the furthest of each list's first name
    past the last candidate (at or past `start`'s name for the first). The next step counts
    the rows of that name `where` admits (`found`, with the name in `name`) and finds the
    next candidate past it, both from `at` alone: a candidate is tested by the exact
    conditions, one seek by name, not by looking it up in every list again, which cost a
    seek a gram more per name found."""
    name = NAME_GRAM.c.name
    c = COMMUNICATION.c
    # the rows of a name the walk found, past the cursors: the walk's names are within the
    # cursors' names, so only a cursor's own name has rows on both sides of it. Written so
    # that it is no range of an index: a range past the cursor led PostgreSQL to read the
    # communications after the cursor and look each up in the walk, not the other way
    within = list(where)
    for edge, ahead in ((start, not descending), (end, descending)):
        if edge is not None:
            within.append(or_(c.name != edge[0], c.id > edge[1] if ahead else c.id < edge[1]))

    def furthest(past: Any, strict: bool, walk: Any = None) -> Any:
        """The furthest of each list's first name past `past` (or at it, not `strict`; the
        first of each list for None), or NULL once a list has none."""
        if past is None:
            beyond: tuple[Any, ...] = ()
        elif descending:
            beyond = (name < past if strict else name <= past,)
        else:
            beyond = (name > past if strict else name >= past,)
        firsts = [
            select(
                select(name)
                .where(NAME_GRAM.c.gram == bindparam(f"gram_{n}", type_=String), *beyond)
                .order_by(name.desc() if descending else name)
                .limit(1)
                .correlate(*(() if walk is None else (walk,)))
                .scalar_subquery()
                .label("first")
            )
            for n in range(grams)
        ]
        found = union_all(*firsts).subquery("found") if grams > 1 else firsts[0].subquery("found")
        pick = func.min if descending else func.max
        return (
            select(pick(found.c.first)).having(func.count(found.c.first) == grams).scalar_subquery()
        )

    seed = select(
        furthest(None if start is None else start[0], strict=False).label("at"),
        literal(None, String).label("name"),
        cast(ZERO, BigInteger).label("found"),  # bigint, as count() is on PostgreSQL
        cast(ZERO, BigInteger).label("got"),
        ZERO.label("step"),
    ).cte("walk", recursive=True)
    walk = seed.alias("w")
    found = (
        select(func.count())
        .select_from(COMMUNICATION)
        .where(c.name == walk.c.at, *within)
        .scalar_subquery()
    )
    going = [walk.c.at.is_not(None), walk.c.got + walk.c.found < limit]
    if end is not None:
        going.append(walk.c.at >= end[0] if descending else walk.c.at <= end[0])
    steps = seed.union_all(
        select(
            furthest(walk.c.at, strict=True, walk=walk),
            walk.c.at,
            found,
            walk.c.got + walk.c.found,  # a step behind: `found` once a step, not twice
            walk.c.step + ONE,
        ).where(*going)
    )
    # in the walk's order, which is the names' (name_gram's index, in the same collation),
    # then by id: ordered by name, PostgreSQL read communication in name order and looked
    # for each row in the walk, the whole table for a page that the walk ends early
    ordering = [steps.c.step, c.id.desc() if descending else c.id]
    return (
        reading.ROWS.select_from(steps)
        .join(COMMUNICATION, c.name == steps.c.name)
        .where(steps.c.found > ZERO, *within)
        .order_by(*ordering)
        .limit(limit)
    )
