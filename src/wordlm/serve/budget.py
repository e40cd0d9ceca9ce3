"""The service's compute budget: where a request's model work is checked, cut, or gives way.

`watch_model(lm)` puts `Budget.check` before each of the model's primitives (`WATCHED`: the calls
the library makes for every decoding step, scoring pass and batch of next words), as instance
attributes; the check reads the worker thread's current `Budget` (a thread-local: in any other
thread, and outside a job, it does nothing). The check raises `Cut` (a BaseException, so that no
`except Exception` of the library swallows it) when every caller has gone, the server's drain has
reached its bound, or the budget is spent; for a long request it first lets the worker answer the
short requests waiting (`MicroBatcher._serve_waiting`). `checkpoint()` is the same check for work
made of parts that do not call a watched primitive (a batch rerank).

Not here: the worker thread and the queue (`batching.py`), HTTP (`app.py`).
"""

from __future__ import annotations

import functools
import threading
import time


class Unavailable(Exception):
    """The service did not (or no longer could) do a request: `status` 503 (busy, stopping, waited
    too long) or 504 (cut after its compute budget), a one-line reason, `retry_after` seconds."""

    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class Cut(BaseException):
    """Raised at a model call to stop a request's work (a BaseException, so that no `except
    Exception` of the library swallows it). `error`: what its callers get (None: nobody waits)."""

    def __init__(self, error: Unavailable | None):
        super().__init__(error.message if error else "every caller went away")
        self.error = error


worker_state = threading.local()  # the worker thread's current budget (`Budget`); other threads have none
WATCHED = ("start", "step", "next_logprobs", "stream_logprobs", "stream_logprobs_flat", "stream_logprobs_packed",
           "begin", "extend", "advance")


def watch_model(lm) -> None:
    """Put the budget check before each of `lm`'s primitives (the `WATCHED` methods it has), as
    instance attributes: the library's own calls (`self.step(...)`) go through them. The check does
    nothing outside a job of the service's worker thread, so `lm` stays usable elsewhere."""
    attributes = getattr(lm, "__dict__", None)
    if attributes is None or attributes.get("_serve_watched"):
        return
    for name in WATCHED:
        method = getattr(lm, name, None)
        if callable(method):
            try:
                setattr(lm, name, _checked(method))
            except (AttributeError, TypeError):  # a read-only attribute: left unwatched
                pass
    attributes["_serve_watched"] = True


def checkpoint() -> None:
    """The budget's check, for work in the worker thread between calls that are not watched (a
    no-op elsewhere): where a long job made of parts may be cut, or give way to waiting requests."""
    budget = getattr(worker_state, "budget", None)
    if budget is not None:
        budget.check()


def _checked(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        budget = getattr(worker_state, "budget", None)
        if budget is not None:
            budget.check()
        return method(*args, **kwargs)

    return call


class Budget:
    """What the worker's current batch may still do: checked before every model call. A long request
    (`may_yield`) also gives way there: the next words and scores waiting meanwhile are answered
    before its next model call (the model's calls carry no hidden state between them: rows in, rows
    out), so a small request waits for one step of a long one, not for all of it. The time given
    away is not counted against the long request's budget."""

    def __init__(self, batcher, jobs: list, deadline: float, may_yield: bool = False):
        """`batcher`: the worker's owner (`batching.MicroBatcher`: its drain bound, its errors, its
        `_serve_waiting`; not imported here, which would be a circle)."""
        self.batcher, self.jobs, self.deadline, self.may_yield = batcher, jobs, deadline, may_yield

    def check(self) -> None:
        if all(j.cancelled for j in self.jobs):
            raise Cut(None)
        now = time.monotonic()
        drain = self.batcher.drain_deadline
        if drain is not None and now >= drain:
            raise Cut(self.batcher.stopping())
        if now >= self.deadline:
            raise Cut(self.batcher.over_budget())
        if self.may_yield:
            self.deadline += self.batcher._serve_waiting()
