"""Batches for `keras.Model.fit`: encoded streams → shuffled, length-bucketed tf.data batches.

3. A plan turns the streams of an `EncodedCorpus` (`corpus.py`) into batches, in a new random
   order each pass (seeded: the same seed gives the same batches), with a fixed number of batches
   per pass (`num_batches`, Keras's `steps_per_epoch`: the dataset repeats and is never rebuilt
   between epochs):
   - `RecurrentPlan` (`sequence`, `char`): an example is a whole stream, inputs `s[:-1]`, targets
     `s[1:]` (teacher forcing); with `--context-tokens N`, a run of consecutive streams of at most
     N inputs (`pack_lines`), so the model learns to read a line after the lines before it. Streams are bucketed by input length, rounded up to a multiple of
     `length_step` tokens (8 with fixed shapes, else 2), so padding does not dominate; each bucket has a fixed number of rows,
     at most `batch_size` and at most `max_batch_tokens / length` (the logits tensor holds
     rows × length × vocabulary floats: this bounds memory on long lines). Streams are drawn at
     random within their bucket and the batches of all buckets are shuffled together.
   - `FixedPlan` (`word`, `window`, `line`): an example is one predicted position; its context is
     the last `input_length` ids of its stream before it, left-padded with `<pad>` (exactly
     `framing.context`, a test checks it against `framing.examples`). Positions are shuffled in a
     buffer of `buffer_blocks` blocks of `block` consecutive positions, the blocks in random order.
   For XLA (`fixed_shapes`), every batch of a bucket has the same shape: the last one is filled up
   with rows whose targets are all `<pad>`, which the loss ignores (`ignore_class=0`), so XLA
   compiles once per bucket; otherwise a recurrent batch is cut to its longest stream.
4. `make_dataset` wraps a plan in `tf.data` (one `from_generator` per pass, endless). With
   `num_shards` > 1 (multi-worker training) every worker computes the same global plan from the
   seed and reads only its own slice of rows of each global batch: the union of the workers'
   batches is the single-device batch.

Not here: reading the text (`corpus.py`), the network, the loss.
"""

from __future__ import annotations

import math
import os

import numpy as np

from wordlm.errors import InputError
from wordlm.framings import Framing
from wordlm.running_text import pack_lines
from wordlm.training.corpus import EncodedCorpus
from wordlm.vocab import PAD_ID, UNK_ID

FILLER_ID = UNK_ID  # first input of a filler row (a row needs one unmasked input); its targets are <pad>


def split_rows(rows: int, shard: int, num_shards: int) -> slice:
    """The rows of a global batch that worker `shard` of `num_shards` reads (contiguous, equal)."""
    per = rows // num_shards
    return slice(shard * per, (shard + 1) * per)


class RecurrentPlan:
    """Length-bucketed batches of whole streams for the `sequence` and `char` framings.

    With `fixed_shapes` (for XLA) every batch of a bucket is <int32>[rows, bucket length], the last
    one filled up with filler rows; without, a batch is as long as its longest stream and only as
    many rows as it has streams (rounded up to a multiple of the replicas).
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, max_batch_tokens: int, length_step: int | None = None,
                 multiple: int = 1, fixed_shapes: bool = True, groups: np.ndarray | None = None):
        lengths = np.asarray(lengths, dtype=np.int64)
        # An example is a run of consecutive streams (`groups`: boundaries, as `pack_lines` returns),
        # by default one stream each.
        self.groups = groups
        if groups is not None:
            lengths = np.add.reduceat(lengths - 1, groups[:-1]) + 1
        inputs = lengths - 1  # a stream of n tokens has n - 1 targets
        usable = np.flatnonzero(inputs >= 1)
        if usable.size == 0:
            raise InputError("no training examples: every line is too short for this framing")
        # Wide buckets when each bucket costs an XLA compile, narrow ones otherwise.
        length_step = length_step or (8 if fixed_shapes else 2)
        padded = -(-inputs[usable] // length_step) * length_step

        def rows_for(length: int) -> int:
            rows = max(1, min(batch_size, max_batch_tokens // length))
            return max(multiple, rows - rows % multiple)  # every replica gets the same number of rows

        # Group lengths into buckets of at least one full batch each (a small corpus is not cut
        # into many small batches); the longest, possibly short, group joins the one before it.
        values, counts = np.unique(padded, return_counts=True)
        groups, current, count = [], [], 0
        for value, n in zip(values.tolist(), counts.tolist()):
            current.append(value)
            count += n
            if count >= rows_for(value):
                groups.append(current)
                current, count = [], 0
        if current:
            if groups:
                groups[-1] += current
            else:
                groups.append(current)
        self.buckets: list[tuple[int, int, np.ndarray]] = []  # (length, rows, stream indices)
        for group in groups:
            self.buckets.append((group[-1], rows_for(group[-1]), usable[np.isin(padded, group)]))
        self.num_batches = sum(math.ceil(len(idx) / rows) for _, rows, idx in self.buckets)
        self.examples = int(usable.size)
        self.predicted = int(inputs[usable].sum())
        self.multiple, self.fixed_shapes = multiple, fixed_shapes
        self.inputs = inputs  # <int64>[streams]: input length of each stream
        # Tokens computed per pass, padding included (an upper bound without fixed shapes).
        self.padded_tokens = sum(math.ceil(len(idx) / rows) * rows * length for length, rows, idx in self.buckets)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(rows, length) of every bucket's batches."""
        return [(rows, length) for length, rows, _ in self.buckets]

    def batches(self, corpus: EncodedCorpus, rng: np.random.Generator, shard: int = 0, num_shards: int = 1):
        """Yield (inputs, targets) <int32>[rows / num_shards, length] batches, one pass, shuffled."""
        ids, starts = corpus.ids, corpus.starts
        plan = []
        for b, (_length, rows, idx) in enumerate(self.buckets):
            order = rng.permutation(idx)
            plan += [(b, order[lo : lo + rows]) for lo in range(0, len(order), rows)]
        for k in rng.permutation(len(plan)):
            b, chosen = plan[k]
            length, rows, _ = self.buckets[b]
            if not self.fixed_shapes:
                length = int(self.inputs[chosen].max())
                rows = -(-len(chosen) // self.multiple) * self.multiple
            part = split_rows(rows, shard, num_shards)
            x = np.zeros((rows, length), dtype=np.int32)
            y = np.zeros((rows, length), dtype=np.int32)
            x[len(chosen):, 0] = FILLER_ID
            for r in range(part.start, min(part.stop, len(chosen))):
                if self.groups is None:
                    s = ids[starts[chosen[r]] : starts[chosen[r] + 1]]
                    x[r, : len(s) - 1] = s[:-1]
                    y[r, : len(s) - 1] = s[1:]
                else:  # consecutive streams: inputs <s> a1 … an <s> b1 …, targets a1 … an </s> b1 … </s>
                    bounds = starts[self.groups[chosen[r]] : self.groups[chosen[r] + 1] + 1]
                    s = np.asarray(ids[bounds[0] : bounds[-1]])
                    n = len(s) - (len(bounds) - 1)
                    x[r, :n] = np.delete(s, bounds[1:] - 1 - bounds[0])  # without each stream's last token
                    y[r, :n] = np.delete(s, bounds[:-1] - bounds[0])  # without each stream's first token
            yield x[part], y[part]


class FixedPlan:
    """Shuffled batches of (context, next id) examples for the `word`, `window` and `line` framings."""

    def __init__(self, lengths: np.ndarray, first_target: int, input_length: int, batch_size: int,
                 block: int = 4096, buffer_blocks: int = 16, multiple: int = 1):
        lengths = np.asarray(lengths, dtype=np.int64)
        self.examples = self.predicted = int(np.maximum(lengths - first_target, 0).sum())
        if self.examples == 0:
            raise InputError("no training examples: every line is too short for this framing")
        self.first_target, self.input_length = first_target, input_length
        self.rows = -(-batch_size // multiple) * multiple  # a multiple of the replicas in sync
        self.block, self.buffer_blocks = block, buffer_blocks
        self.num_batches = math.ceil(self.examples / self.rows)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [(self.rows, self.input_length)]

    def contexts(self, ids: np.ndarray, positions: np.ndarray, stream_starts: np.ndarray) -> np.ndarray:
        """<int32>[n, input_length]: the ids before each position within its stream, left-padded."""
        offsets = np.arange(-self.input_length, 0)
        source = positions[:, None] + offsets[None, :]
        inside = source >= stream_starts[:, None]
        return np.where(inside, ids[np.maximum(source, 0)], PAD_ID).astype(np.int32)

    def batches(self, corpus: EncodedCorpus, rng: np.random.Generator, shard: int = 0, num_shards: int = 1):
        """Yield (contexts <int32>[rows / num_shards, input_length], targets <int32>[rows / num_shards])."""
        ids, starts = corpus.ids, corpus.starts
        total = int(starts[-1])
        blocks = rng.permutation(math.ceil(total / self.block))
        part = split_rows(self.rows, shard, num_shards)
        pending = np.zeros(0, dtype=np.int64)
        for lo in range(0, len(blocks), self.buffer_blocks):
            positions = np.concatenate([
                np.arange(b * self.block, min((b + 1) * self.block, total)) for b in blocks[lo : lo + self.buffer_blocks]
            ])
            stream = np.searchsorted(starts, positions, side="right") - 1
            positions = positions[positions - starts[stream] >= self.first_target]
            pending = np.concatenate([pending, rng.permutation(positions)])
            last = lo + self.buffer_blocks >= len(blocks)
            while len(pending) >= self.rows or (last and len(pending)):
                chosen, pending = pending[: self.rows], pending[self.rows :]
                yield self._batch(ids, starts, chosen, part)

    def _batch(self, ids, starts, chosen, part):
        x = np.zeros((self.rows, self.input_length), dtype=np.int32)
        y = np.zeros(self.rows, dtype=np.int32)
        x[len(chosen):, -1] = FILLER_ID
        mine = chosen[part.start : part.stop]
        if len(mine):
            stream_starts = starts[np.searchsorted(starts, mine, side="right") - 1]
            x[part.start : part.start + len(mine)] = self.contexts(ids, mine, stream_starts)
            y[part.start : part.start + len(mine)] = ids[mine]
        return x[part], y[part]


def make_plan(corpus: EncodedCorpus, framing: Framing, batch_size: int, max_batch_tokens: int, multiple: int = 1,
              fixed_shapes: bool = True, context_tokens: int = 0):
    """The batch plan for a framing over an encoded corpus; rows per batch a multiple of `multiple`.

    `context_tokens` > 0 (recurrent framings): an example is a run of consecutive lines (`pack_lines`).
    """
    if framing.recurrent:
        groups = pack_lines(corpus.lengths, context_tokens) if context_tokens else None
        return RecurrentPlan(corpus.lengths, batch_size, max_batch_tokens, multiple=multiple, fixed_shapes=fixed_shapes,
                             groups=groups)
    return FixedPlan(corpus.lengths, framing.first_target, framing.input_length, batch_size, multiple=multiple)


def make_dataset(corpus: EncodedCorpus, plan, recurrent: bool, seed: int | None, shard: int = 0, num_shards: int = 1):
    """An endless tf.data pipeline of this worker's (inputs, targets) batches; `plan.num_batches` a pass.

    Pass p is ordered by `np.random.default_rng([seed, p])`, counted from 0 for every new iterator,
    so the batches do not depend on how often Keras restarts the iterator (it peeks at one batch
    before training under a distribution strategy).
    """
    import tensorflow as tf

    base = seed if seed is not None else int.from_bytes(os.urandom(4), "little")

    def generator(epoch):
        rng = np.random.default_rng([base, int(epoch)])  # one independent, reproducible order per pass
        yield from plan.batches(corpus, rng, shard, num_shards)

    targets = tf.TensorSpec([None, None] if recurrent else [None], tf.int32)
    spec = (tf.TensorSpec([None, None], tf.int32), targets)
    ds = tf.data.Dataset.counter().flat_map(
        lambda epoch: tf.data.Dataset.from_generator(generator, args=(epoch,), output_signature=spec)
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(4)
