"""A workaround for a memory leak in graphql-core 3.3.2 (the newest release), per event of
every subscription.

graphql-core runs each subscription event with `Executor.build_per_event_executor`, a
shallow copy of the subscription's executor. The copy shares the executor's memo of
collected subfields, `_relevant_sub_fields`, which is keyed by the identity of each
field list and keeps the list alive. Every event makes new field lists, so every event
adds entries that are never used again and never freed: about 1.4 KiB per delivered
event for a small selection, forever (issue 9 measured 121 → 336 MiB in two minutes).
Giving each event's executor a memo of its own keeps the memo for the one execution it
serves (where it does its job, for lists of objects) and lets it go with the event.
tests/schema/test_executor.py shows the growth with graphql-core's own class and none
with this one; when graphql-core fixes it, that test's first half fails and says so.
"""

from typing import Any

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class PerEventMemo(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor
