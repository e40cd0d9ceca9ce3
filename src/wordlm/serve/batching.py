"""The micro-batcher: concurrent requests gathered into one call of the model's batched primitive.

Every model call of the service runs here, in one worker thread (TensorFlow never runs on the event
loop, and the model is never called from two threads at once). Requests for next words and for
sentence scores are *batchable*: the worker takes the oldest waiting request, then gathers more of
the same kind that are waiting, and waits for more until the batch holds `max_batch` rows
(prompts, or lines) or `max_wait_ms` has passed since it started gathering — but only when waiting
may pay: while requests are on their way (received by the server, still being read and checked:
`Arrivals` counts them), or while the service is busy (the recent batches held more than one row on
average). A lone client is never kept waiting; under load the batches fill. It answers a batch
with one call:

- next words: `lm.next_logprobs` over every request's prompt history (`scoring.prompt_histories`),
  then each request's own `top` and `prefix` applied to its row (`scoring.rank_next_words`) —
  exactly what `lm.next_words` does for one prompt;
- sentence scores: `lm.score_lines` over every request's lines (requests scored with different
  `bos`/`eos`/`oov` options are grouped, one call per set of options).

Batching changes no number beyond float32 rounding (DESIGN.md: a sentence scored alone or in a batch
gives the same log-probability to 1e-5; the tests check the service against requests served alone
and against the CLI). A request whose input is wrong fails alone: its error goes to its own caller,
the others of its batch are answered. `max_batch=1` turns batching off (one request per call).
Anything else (fill, generate, rerank, candidates) is `call`ed: one request per call, in the same
worker thread, in arrival order with the batches.

Nothing a client sends holds the model for long (docs/guarantees.md, "The service"):
- **compute budget**: a request (or a batch) that has used `max_compute_s` of the worker's time is
  cut at its next model call (`budget.py`: every primitive the library calls is checked); its
  client gets `Unavailable` 504 with the reason; a long request gives way to the short ones
  waiting at each of those calls;
- **cancellation**: a request whose client has gone away (`limits.Guard` cancels its task) is
  dropped before it runs, and cut at its next model call while it runs (a batch: once every
  request in it has gone);
- **a bounded queue**: at most `max_queue` requests waiting for or in the model (more: 503 at once);
  one that waited `queue_timeout_s` without starting is refused (503), not run late;
- **drain** (`drain(seconds)`, what SIGTERM calls): no new work (503); what is queued or running
  is answered, or cut at the bound (503 "stopping"), so every client has an answer in `seconds`;
- the event loop does not trust the worker either: a caller whose answer is late by more than
  `STUCK_GRACE_S` past its bounds (one model call that cannot be interrupted) gets its 504/503 anyway;
- `health()`: None when the worker is ready, else why not (stuck past its budget, queue full,
  stopping): `/healthz`'s readiness.

Not here: HTTP (`app.py`), what the requests mean (`schemas.py`).
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from wordlm.errors import WordlmError
from wordlm.serve.budget import Budget, Cut, Unavailable, worker_state, watch_model

__all__ = ["MicroBatcher", "Arrivals", "Unavailable", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_WAIT_MS"]

DEFAULT_MAX_BATCH = 64  # rows per model call: the scorer's own forward-pass batch (inference.streams.MAX_BATCH)
DEFAULT_MAX_WAIT_MS = 2.0  # how long a batch may wait for company; a lone request pays at most this
MAX_BATCH_LIMIT = 4096  # the most rows `--max-batch` may ask for (decoding.options.MAX_ROWS)
DEFAULT_MAX_COMPUTE_S = 10.0  # seconds of model time one request (or one batch) may use; then it is cut (504)
DEFAULT_MAX_QUEUE = 256  # requests waiting for or in the model; more are refused at once (503)
DEFAULT_QUEUE_TIMEOUT_S = 30.0  # a request that waited this long without starting is refused (503)
MAX_BATCH_CHARS = 1 << 18  # characters of prompts or lines in one batch: a batch's memory is bounded
SCORE_CHUNK_CHARS = 1 << 13  # lines are scored this many characters at a time: a cut or a turn for others between
LONG_CHARS = 2_000  # a request with more characters than this runs in a batch of its own (never slowing short ones)
STUCK_GRACE_S = 2.0  # past its budget by this much, the worker is "stuck" (/healthz) and callers answered
POLL = 0.0005  # seconds between looks at the requests on their way while a batch waits
BUSY = 1.5  # mean rows of recent batches above which a batch waits its max_wait for company
LOOP_POLL = 0.25  # seconds between the event loop's looks at a waiting request's bounds


@dataclass
class Job:
    kind: str  # "next", "score" or "call"
    rows: int  # prompts or lines it brings to a batch
    payload: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    key: Any = None  # jobs batch together only with the same key (scoring options)
    cost: int = 0  # characters of its prompts or lines (a batch's bound: MAX_BATCH_CHARS)
    submitted: float = 0.0  # time.monotonic() when it was queued
    cancelled: bool = False  # its caller has gone (set on the event loop, read by the worker)


@dataclass
class Stats:
    """What the worker has done, per kind: requests answered, model calls made, rows, largest batch;
    and requests cut (compute budget), dropped (client gone), refused (queue full, too late, stopping)."""

    requests: collections.Counter = field(default_factory=collections.Counter)
    batches: collections.Counter = field(default_factory=collections.Counter)
    rows: collections.Counter = field(default_factory=collections.Counter)
    largest: collections.Counter = field(default_factory=collections.Counter)
    cut: int = 0
    dropped: int = 0
    refused: int = 0

    def to_json(self) -> dict:
        kinds = sorted(set(self.requests) | set(self.batches))
        out = {k: {"requests": self.requests[k], "batches": self.batches[k], "rows": self.rows[k],
                   "largest_batch": self.largest[k]} for k in kinds}
        out["cut"], out["dropped"], out["refused"] = self.cut, self.dropped, self.refused
        return out


_STOP = object()
class MicroBatcher:
    """Runs the model in one worker thread; `await` its methods from the event loop.

    `max_batch`: rows (prompts or lines) per model call, at least 1 (1: no batching); a request with
    more rows than that runs alone. `max_wait_ms`: how long the worker waits for more requests once
    it has one (0: it takes only those already waiting). `max_compute_s`, `max_queue`,
    `queue_timeout_s`: the bounds of the module docstring. The thread starts on the first request
    and stops at `close()` after answering every request it was given.
    """

    def __init__(self, lm, max_batch: int = DEFAULT_MAX_BATCH, max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
                 max_compute_s: float = DEFAULT_MAX_COMPUTE_S, max_queue: int = DEFAULT_MAX_QUEUE,
                 queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S):
        if not 1 <= max_batch <= MAX_BATCH_LIMIT:
            raise ValueError(f"max_batch must be in [1, {MAX_BATCH_LIMIT}], got {max_batch}")
        if not 0 <= max_wait_ms <= 10_000:
            raise ValueError(f"max_wait_ms must be in [0, 10000], got {max_wait_ms}")
        if not 0 < max_compute_s <= 86_400:
            raise ValueError(f"max_compute_s must be in (0, 86400], got {max_compute_s}")
        if not 1 <= max_queue <= 1_000_000:
            raise ValueError(f"max_queue must be in [1, 1000000], got {max_queue}")
        if not 0 < queue_timeout_s <= 86_400:
            raise ValueError(f"queue_timeout_s must be in (0, 86400], got {queue_timeout_s}")
        watch_model(lm)
        self.lm = lm
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_compute = float(max_compute_s)
        self.max_queue = max_queue
        self.queue_timeout = float(queue_timeout_s)
        self.stats = Stats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._held: collections.deque = collections.deque()  # taken from the queue, not yet run
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.arriving = 0  # batchable HTTP requests being received and checked (`Arrivals`; event loop only)
        self.outstanding = 0  # batchable jobs submitted and not yet answered (event loop only)
        self.busy = 0.0  # moving average of the rows of recent batches: above BUSY, batches wait
        self.submitted = 0  # jobs ever submitted (event loop only)
        self.finished = 0  # jobs ever answered or dropped by the worker (worker only)
        self.running_since: float | None = None  # when the worker started its current batch
        self.drain_deadline: float | None = None  # set by `drain`: no new work; everything cut at this time
        self._yielding = False  # the worker is answering waiting requests inside a long one's model call

    # -- the requests ----------------------------------------------------------------------------
    async def next_words(self, prompt: str, top: int | None, prefix: str | None):
        """`lm.next_words(prompt, top, prefix)`, batched with other requests' prompts."""
        return await self._submit("next", 1, (prompt, top, prefix), cost=len(prompt))

    async def score_lines(self, lines: list[str], options):
        """`lm.score_lines(lines, bos, eos, oov)` (`options`: a `scoring.Options`), batched with others."""
        return await self._submit("score", len(lines), list(lines), key=options, cost=sum(map(len, lines)))

    async def call(self, fn: Callable, *args, **kwargs):
        """`fn(*args, **kwargs)` in the worker thread, alone (fill, generate, rerank, candidates)."""
        return await self._submit("call", 1, (fn, args, kwargs))

    @property
    def pending(self) -> int:
        """Requests waiting for or in the model."""
        return self.submitted - self.finished

    def health(self) -> str | None:
        """None when the worker can take work now; else why not, in one line (`/healthz`)."""
        if self.drain_deadline is not None or self._closed:
            return "the server is stopping"
        if self._thread is not None and not self._thread.is_alive():
            return "the model worker has stopped"
        since = self.running_since
        if since is not None and time.monotonic() - since > self.max_compute + STUCK_GRACE_S:
            return (f"the model has been on one request for {time.monotonic() - since:.0f} s, past its budget of "
                    f"{self.max_compute:g} s (stuck in one model call)")
        if self.pending >= self.max_queue:
            return f"{self.pending} requests are waiting for the model (the limit is {self.max_queue})"
        return None

    def drain(self, seconds: float) -> None:
        """Stop taking work; answer what was submitted, cutting whatever still runs `seconds` from now
        (an earlier drain's bound is kept if it is sooner)."""
        deadline = time.monotonic() + max(0.0, seconds)
        if self.drain_deadline is None or deadline < self.drain_deadline:
            self.drain_deadline = deadline

    def close(self, timeout: float | None = None) -> None:
        """Answer what was submitted, then stop the worker thread (waiting at most `timeout` s)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def stopping(self) -> Unavailable:
        return Unavailable(503, "the server is stopping (SIGTERM): this request was not finished; retry on "
                                "another instance", retry_after=1)

    def over_budget(self) -> Unavailable:
        return Unavailable(504, f"cut after {self.max_compute:g} s of model time (the server's "
                                "--max-compute-seconds): ask for less work (fewer lines, words or results)")

    async def _submit(self, kind: str, rows: int, payload, key=None, cost: int = 0):
        loop = asyncio.get_running_loop()
        if self.drain_deadline is not None or self._closed:
            self.stats.refused += 1
            raise self.stopping()
        if self.pending >= self.max_queue:
            self.stats.refused += 1
            raise Unavailable(503, f"busy: {self.pending} requests are waiting for the model (the server's "
                                   "--max-queue); retry later", retry_after=1)
        job = Job(kind, rows, payload, loop, loop.create_future(), key, cost, time.monotonic())
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="wordlm-model", daemon=True)
                self._thread.start()
        batchable = kind != "call"
        self.outstanding += batchable
        self.submitted += 1
        try:
            self._queue.put(job)
            return await self._wait(job)
        except asyncio.CancelledError:  # the client went away (`limits.Guard`), or the server stops
            job.cancelled = True
            raise
        finally:
            self.outstanding -= batchable

    async def _wait(self, job: Job):
        """The job's answer; or, when the worker is late past every bound (one model call it cannot
        cut), the error its caller would have had: the caller is answered, the worker catches up."""
        while True:
            done, _ = await asyncio.wait({job.future}, timeout=LOOP_POLL)
            if done:
                return job.future.result()
            now = time.monotonic()
            if self.drain_deadline is not None and now > self.drain_deadline + STUCK_GRACE_S:
                job.cancelled = True
                raise self.stopping()
            if now > job.submitted + self.queue_timeout + self.max_compute + STUCK_GRACE_S:
                job.cancelled = True
                raise self.over_budget()

    def _on_the_way(self) -> bool:
        """True while batchable requests have reached the server but not the batcher (an estimate,
        read from the worker thread: it only decides whether waiting may pay)."""
        return self.arriving > self.outstanding

    # -- the worker thread -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._held.popleft() if self._held else self._queue.get()
            if job is _STOP:
                return
            batch = [job] if job.kind == "call" else self._gather(job)
            live = self._admitted(batch)
            if not live:
                continue
            self.running_since = time.monotonic()
            try:
                self._execute(live, may_yield=live[0].kind != "next" or live[0].cost > LONG_CHARS)
            finally:
                self.running_since = None

    def _execute(self, live: list[Job], may_yield: bool) -> None:
        """Run a batch under its budget; every job gets its answer or its error."""
        outer = getattr(worker_state, "budget", None)
        worker_state.budget = Budget(self, live, time.monotonic() + self.max_compute, may_yield)
        try:
            self._run(live)
        except Cut as cut:
            if cut.error is None:
                self.stats.dropped += len(live)
            else:
                self.stats.cut += len(live)
            for j in live:
                _answer(j, error=cut.error or Unavailable(499, "the client went away"))
        except BaseException as e:  # never let the worker die: every caller gets an answer
            for j in live:
                _answer(j, error=e)
        finally:
            worker_state.budget = outer
            self.finished += len(live)

    def _serve_waiting(self) -> float:
        """Inside a long request's model call check: answer the batch of next words or scores that
        is waiting now, if any (no waiting for company); the seconds it took."""
        if self._yielding or (not self._held and self._queue.empty()):
            return 0.0
        start = time.monotonic()
        self._yielding = True
        try:
            while True:  # what is queued joins the held jobs, in order
                try:
                    self._held.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            first = next((j for j in self._held if j is not _STOP and j.kind != "call" and j.cost <= LONG_CHARS), None)
            if first is None:
                return 0.0
            self._held.remove(first)
            live = self._admitted(self._gather(first, wait=False))
            if live:
                self._execute(live, may_yield=False)
        finally:
            self._yielding = False
        return time.monotonic() - start

    def _admitted(self, batch: list[Job]) -> list[Job]:
        """The jobs of `batch` still worth running: not those whose client has gone, nor those that
        waited too long or arrive after the drain's bound (answered 503 here)."""
        live, now = [], time.monotonic()
        for job in batch:
            if job.cancelled:
                self.stats.dropped += 1
                self.finished += 1
            elif self.drain_deadline is not None and now >= self.drain_deadline:
                self.stats.refused += 1
                self.finished += 1
                _answer(job, error=self.stopping())
            elif now - job.submitted > self.queue_timeout:
                self.stats.refused += 1
                self.finished += 1
                _answer(job, error=Unavailable(503, f"busy: waited {now - job.submitted:.0f} s for the model without "
                                                    "starting (the server's queue timeout); retry later", retry_after=1))
            else:
                live.append(job)
        return live

    def _gather(self, first: Job, wait: bool = True) -> list[Job]:
        """`first` and the waiting jobs of its kind and key, up to `max_batch` rows (and
        `MAX_BATCH_CHARS` characters) or `max_wait` (none without `wait`)."""
        batch, rows, cost, skipped, waited = [first], first.rows, first.cost, [], False
        deadline = time.monotonic() + (self.max_wait if wait else 0.0)
        try:
            while rows < self.max_batch and first.cost <= LONG_CHARS:
                if self._held:
                    job = self._held.popleft()
                else:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        wait = deadline - time.monotonic()
                        if wait <= 0 or not (self.busy > BUSY or self._on_the_way()):
                            break  # nothing more is coming soon: run what there is
                        waited = True
                        try:
                            job = self._queue.get(timeout=min(wait, POLL))
                        except queue.Empty:
                            continue
                if job is _STOP:
                    skipped.append(job)
                    break
                if job.kind != first.kind or job.key != first.key or job.cost > LONG_CHARS:
                    skipped.append(job)  # another kind, or a long one: it starts a later batch
                    continue
                if rows + job.rows > self.max_batch or cost + job.cost > MAX_BATCH_CHARS:
                    skipped.append(job)
                    break
                batch.append(job)
                rows += job.rows
                cost += job.cost
        finally:
            self._held.extendleft(reversed(skipped))  # they keep their place, ahead of newer jobs
        # A batch that waited and found no company ends the busy spell at once: a lone client after
        # a burst pays the wait once, not for as long as the average takes to decay.
        self.busy = float(rows) if waited and len(batch) == 1 else 0.8 * self.busy + 0.2 * rows
        return batch

    def _run(self, batch: list[Job]) -> None:
        kind = batch[0].kind
        self.stats.requests[kind] += len(batch)
        self.stats.batches[kind] += 1
        rows = sum(j.rows for j in batch)
        self.stats.rows[kind] += rows
        self.stats.largest[kind] = max(self.stats.largest[kind], rows)
        if kind == "call":
            (job,) = batch
            fn, args, kwargs = job.payload
            try:
                result = fn(*args, **kwargs)
            except Exception as e:
                _answer(job, error=e)
            else:
                _answer(job, result)
        elif kind == "next":
            self._run_next(batch)
        else:
            self._run_score(batch)

    def _alone(self, batch: list[Job], run: Callable) -> None:
        """A batch call failed: each request again on its own, so that only the one whose input (or
        size) fails gets the error, and the others their answers."""
        for job in batch:
            try:
                run([job])
            except Exception as e:
                _answer(job, error=e)

    def _run_next(self, batch: list[Job]) -> None:
        from wordlm.scoring import prefix_mask, prompt_histories, rank_next_words

        lm = self.lm
        ready = []  # (job, history, allowed)
        for job in batch:
            prompt, top, prefix = job.payload
            try:
                ready.append((job, prompt_histories(lm, [prompt])[0], prefix_mask(lm, prefix)))
            except WordlmError as e:  # this request's input: its own error
                _answer(job, error=e)
        if not ready:
            return
        try:
            rows = lm.next_logprobs([history for _, history, _ in ready])  # one call for the whole batch
        except Exception:
            if len(ready) == 1:
                raise
            return self._alone([job for job, _, _ in ready], self._run_next)
        for (job, _, allowed), lp in zip(ready, rows):
            try:
                _answer(job, rank_next_words(lm, lp, job.payload[1], allowed))
            except Exception as e:
                _answer(job, error=e)

    def _run_score(self, batch: list[Job]) -> None:
        options = batch[0].key
        lines = [line for job in batch for line in job.payload]
        try:
            scores = []
            for chunk in _chunks(lines, SCORE_CHUNK_CHARS):  # between chunks: the budget's check, a turn for others
                scores += self.lm.score_lines(chunk, bos=options.bos, eos=options.eos, oov=options.oov)
        except Exception:
            if len(batch) == 1:
                raise
            return self._alone(batch, self._run_score)  # someone's input is wrong: each its own answer
        lo = 0
        for job in batch:
            _answer(job, scores[lo : lo + job.rows])
            lo += job.rows


def _chunks(lines: list[str], chars: int):
    """`lines` in consecutive runs of about `chars` characters (at least one line each)."""
    lo, size = 0, 0
    for i, line in enumerate(lines):
        if i > lo and size + len(line) > chars:
            yield lines[lo:i]
            lo, size = i, 0
        size += len(line) + 1
    if lo < len(lines):
        yield lines[lo:]


class Arrivals:
    """ASGI middleware counting the requests to batchable endpoints (`paths`) from the moment the
    server has them until they are answered: `MicroBatcher.arriving`, what its wait looks at."""

    def __init__(self, app, batcher: MicroBatcher, paths=("/v1/next", "/v1/score", "/v1/perplexity")):
        self.app, self.batcher, self.paths = app, batcher, frozenset(paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        self.batcher.arriving += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.batcher.arriving -= 1


def _answer(job: Job, result=None, error: BaseException | None = None) -> None:
    """Hand a result (or an error) to the waiting request on its event loop (thread-safe)."""

    def deliver():
        if job.future.done() or job.cancelled:  # the client went away: nobody reads the answer
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    try:
        job.loop.call_soon_threadsafe(deliver)
    except RuntimeError:  # the event loop is closed: nobody is waiting any more
        pass
