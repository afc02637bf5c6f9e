"""Who drives a group riding along when its executing member leaves (schema/sharing.py):
one rider at a time, the earliest boarded, and the next if that one ends before it drives."""

from schema.sharing import Frames, Group, Outbox, Passenger, Shared


def _member(frames: Frames, sent: list[str]) -> Shared:
    async def send(payload: str) -> None:
        sent.append(payload)

    return Shared("group", frames, Outbox(send, 10))


def _ride(group: Group, member: Shared) -> Passenger:
    passenger = group.board(member)
    assert passenger is not None
    member.passenger = passenger
    return passenger


async def test_one_rider_at_a_time_takes_over() -> None:
    frames = Frames()
    group = frames.group("group")
    sent: dict[str, list[str]] = {name: [] for name in "abcd"}
    a, b, c, d = (_member(frames, sent[name]) for name in "abcd")
    for member in (a, b, c, d):
        group.join(member)
    group.published(1, "one")
    for member in (a, b, c, d):
        group.sent(member, 1)
    riders = [_ride(group, member) for member in (b, c, d)]  # `a` goes on executing

    group.leave(a)  # the executing member leaves: the earliest rider is released, only it
    assert [r.released.done() for r in riders] == [True, False, False]

    frames.finished(b)  # its operation ended before it drove: the next one takes over
    assert [r.released.done() for r in riders] == [True, True, False]

    group.join(c)  # it runs again from its last event and publishes for the one left riding
    group.published(2, "two")
    assert not riders[2].released.done()
    assert sent["d"] == ["two"]
    assert sent["b"] == sent["c"] == []  # they send their own, from their own executions
