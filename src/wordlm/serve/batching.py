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

DEFAULT_MAX_BATCH = 64  # rows per model call: the scorer's own forward-pass batch (inference.streams.MAX_BATCH)
DEFAULT_MAX_WAIT_MS = 2.0  # how long a batch may wait for company; a lone request pays at most this
MAX_BATCH_LIMIT = 4096  # the most rows `--max-batch` may ask for (decoding.options.MAX_ROWS)
POLL = 0.0005  # seconds between looks at the requests on their way while a batch waits
BUSY = 1.5  # mean rows of recent batches above which a batch waits its max_wait for company


@dataclass
class Job:
    kind: str  # "next", "score" or "call"
    rows: int  # prompts or lines it brings to a batch
    payload: Any
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    key: Any = None  # jobs batch together only with the same key (scoring options)


@dataclass
class Stats:
    """What the worker has done, per kind: requests answered, model calls made, rows, largest batch."""

    requests: collections.Counter = field(default_factory=collections.Counter)
    batches: collections.Counter = field(default_factory=collections.Counter)
    rows: collections.Counter = field(default_factory=collections.Counter)
    largest: collections.Counter = field(default_factory=collections.Counter)

    def to_json(self) -> dict:
        kinds = sorted(set(self.requests) | set(self.batches))
        return {k: {"requests": self.requests[k], "batches": self.batches[k], "rows": self.rows[k],
                    "largest_batch": self.largest[k]} for k in kinds}


_STOP = object()


class MicroBatcher:
    """Runs the model in one worker thread; `await` its methods from the event loop.

    `max_batch`: rows (prompts or lines) per model call, at least 1 (1: no batching); a request with
    more rows than that runs alone. `max_wait_ms`: how long the worker waits for more requests once
    it has one (0: it takes only those already waiting). The thread starts on the first request
    and stops at `close()` after answering every request it was given.
    """

    def __init__(self, lm, max_batch: int = DEFAULT_MAX_BATCH, max_wait_ms: float = DEFAULT_MAX_WAIT_MS):
        if not 1 <= max_batch <= MAX_BATCH_LIMIT:
            raise ValueError(f"max_batch must be in [1, {MAX_BATCH_LIMIT}], got {max_batch}")
        if not 0 <= max_wait_ms <= 10_000:
            raise ValueError(f"max_wait_ms must be in [0, 10000], got {max_wait_ms}")
        self.lm = lm
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.stats = Stats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._held: collections.deque = collections.deque()  # taken from the queue, not yet run
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.arriving = 0  # batchable HTTP requests being received and checked (`Arrivals`; event loop only)
        self.outstanding = 0  # batchable jobs submitted and not yet answered (event loop only)
        self.busy = 0.0  # moving average of the rows of recent batches: above BUSY, batches wait

    # -- the requests ----------------------------------------------------------------------------
    async def next_words(self, prompt: str, top: int | None, prefix: str | None):
        """`lm.next_words(prompt, top, prefix)`, batched with other requests' prompts."""
        return await self._submit("next", 1, (prompt, top, prefix))

    async def score_lines(self, lines: list[str], options):
        """`lm.score_lines(lines, bos, eos, oov)` (`options`: a `scoring.Options`), batched with others."""
        return await self._submit("score", len(lines), list(lines), key=options)

    async def call(self, fn: Callable, *args, **kwargs):
        """`fn(*args, **kwargs)` in the worker thread, alone (fill, generate, rerank, candidates)."""
        return await self._submit("call", 1, (fn, args, kwargs))

    def close(self, timeout: float | None = None) -> None:
        """Answer what was submitted, then stop the worker thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    async def _submit(self, kind: str, rows: int, payload, key=None):
        loop = asyncio.get_running_loop()
        job = Job(kind, rows, payload, loop, loop.create_future(), key)
        with self._lock:
            if self._closed:
                raise RuntimeError("the model worker has stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="wordlm-model", daemon=True)
                self._thread.start()
        batchable = kind != "call"
        self.outstanding += batchable
        try:
            self._queue.put(job)
            return await job.future
        finally:
            self.outstanding -= batchable

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
            try:
                self._run(batch)
            except BaseException as e:  # never let the worker die: every caller gets an answer
                for j in batch:
                    _answer(j, error=e)

    def _gather(self, first: Job) -> list[Job]:
        """`first` and the waiting jobs of its kind and key, up to `max_batch` rows or `max_wait`."""
        batch, rows, skipped = [first], first.rows, []
        deadline = time.monotonic() + self.max_wait
        try:
            while rows < self.max_batch:
                if self._held:
                    job = self._held.popleft()
                else:
                    try:
                        job = self._queue.get_nowait()
                    except queue.Empty:
                        wait = deadline - time.monotonic()
                        if wait <= 0 or not (self.busy > BUSY or self._on_the_way()):
                            break  # nothing more is coming soon: run what there is
                        try:
                            job = self._queue.get(timeout=min(wait, POLL))
                        except queue.Empty:
                            continue
                if job is _STOP:
                    skipped.append(job)
                    break
                if job.kind != first.kind or job.key != first.key:
                    skipped.append(job)  # another kind: it starts a later batch
                    continue
                if rows + job.rows > self.max_batch:
                    skipped.append(job)
                    break
                batch.append(job)
                rows += job.rows
        finally:
            self._held.extendleft(reversed(skipped))  # they keep their place, ahead of newer jobs
        self.busy = 0.8 * self.busy + 0.2 * rows
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
        rows = lm.next_logprobs([history for _, history, _ in ready])  # one call for the whole batch
        for (job, _, allowed), lp in zip(ready, rows):
            _answer(job, rank_next_words(lm, lp, job.payload[1], allowed))

    def _run_score(self, batch: list[Job]) -> None:
        options = batch[0].key
        lines = [line for job in batch for line in job.payload]
        try:
            scores = self.lm.score_lines(lines, bos=options.bos, eos=options.eos, oov=options.oov)
        except WordlmError:
            if len(batch) == 1:
                raise
            for job in batch:  # someone's input is wrong: score each request alone, each its own answer
                try:
                    self._run_score([job])
                except Exception as e:
                    _answer(job, error=e)
            return
        lo = 0
        for job in batch:
            _answer(job, scores[lo : lo + job.rows])
            lo += job.rows


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
        if job.future.done():  # the client went away and the request was cancelled
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    try:
        job.loop.call_soon_threadsafe(deliver)
    except RuntimeError:  # the event loop is closed: nobody is waiting any more
        pass
