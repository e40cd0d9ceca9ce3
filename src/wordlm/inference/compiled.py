"""Every compiled function on the network, built on first use and cached by the model that owns them.

`lm.compiled` is a `Compiled`: `lm.compiled["targets"]` is the `tf.function` that scores sentences,
built the first time it is asked for and kept. The cache belongs to the model and is rebuilt when
the model's Keras network object is replaced (`lm.keras_model = …`, `lm.reset_compiled()`); weights
changed in place (training, `set_weights`, a restored checkpoint) need nothing, because the
functions read the network's variables, not copies of them.

| name             | inputs → outputs                                                                 | used by |
|------------------|----------------------------------------------------------------------------------|---------|
| `next_fixed`     | <int32>[B, L] contexts → <float32>[B, V] log-probs                               | fixed framings' `lm.next_logprobs` |
| `next_recurrent` | <int32>[B, T] post-padded ids, <int32>[B] lengths → [B, V]                       | recurrent `lm.next_logprobs` |
| `targets_fixed`  | <int32>[N, L] contexts, <int32>[N] targets → <float32>[N]                        | fixed framings' sentence scores |
| `targets`        | <int32>[B, T] inputs, [B, T] targets (post-padded), <int32>[B] first scored position → <float32>[scored] | recurrent sentence scores |
| `targets_pair`   | as `targets`, with a second <int32>[B, T] of other targets → two <float32>[scored] (one softmax) | character components of a mixture (`mixture/components.py`) |
| `chunk`          | one long stream's next ids, targets, <float32>[1, S] state → (scores, state)      | lines too long for one pass |
| `read`           | <int32>[T, B] left-padded histories → ([B, V] log-probs, [B, S] states)          | `lm.start`, prompts |
| `step`           | <int32>[B] ids, [B, S] states → ([B, V], [B, S])                                 | `lm.step`, stepwise decoding |
| `level`          | [N] ids, [N, S] states, [P] rows, [P] targets → ([P] scores, [N, S] states)      | the reranking trie |
| `greedy`, `beam` | the whole searches as `tf.while_loop`s (`search_loops.py`)                       | `decoding/compiled.py` |

Every log-probability comes from `Network.log_softmax` or `Network.target_logprobs` (one formula).
Not here: batching and memory bounds (`streams.py`), the searches' bookkeeping (`decoding/`).
"""

from __future__ import annotations

from wordlm.inference.network import Network


class Compiled:
    """The compiled functions of one Keras network (see the module docstring)."""

    def __init__(self, lm):
        self.keras_model = lm.keras_model
        self.net = Network(lm.keras_model, lm.size.layers, lm.size.units, lm.mask_bias())
        self.vocab_size = lm.vocab_size
        self.state_size = lm.state_size
        self.input_length = lm.framing.input_length
        self._fns: dict = {}

    def __getitem__(self, name: str):
        fn = self._fns.get(name)
        if fn is None:
            fn = self._fns[name] = _BUILDERS[name](self)
        return fn


def _spec(shape, dtype="int32"):
    import tensorflow as tf

    return tf.TensorSpec(shape, getattr(tf, dtype))


def _next_fixed(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None, c.input_length])])
    def next_fixed(x):
        return c.net.log_softmax(c.net.features(x))

    return next_fixed


def _next_recurrent(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None, None]), _spec([None])])
    def next_recurrent(x, lengths):
        h = c.net.features(x)  # [B, T, units]
        return c.net.log_softmax(tf.gather(h, lengths - 1, axis=1, batch_dims=1))

    return next_recurrent


def _targets_fixed(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None, c.input_length]), _spec([None])])
    def targets_fixed(x, y):
        return c.net.target_logprobs(c.net.features(x), y)

    return targets_fixed


def _targets(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None, None]), _spec([None, None]), _spec([None])])
    def targets(x, y, start):
        # Post-padded rows run without a mask; only real positions from each row's `start` on reach
        # the softmax, row by row (no [B, T, V] log-softmax is written).
        h = c.net.features(x, masked=False)
        keep = tf.not_equal(x, 0) & (tf.range(tf.shape(x)[1])[None, :] >= start[:, None])
        return c.net.target_logprobs(tf.boolean_mask(h, keep), tf.boolean_mask(y, keep))

    return targets


def _targets_pair(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None, None]), _spec([None, None]), _spec([None, None]), _spec([None])])
    def targets_pair(x, y, y2, start):
        # `targets` for two sets of targets at once: the features and the logits are computed once.
        h = c.net.features(x, masked=False)
        keep = tf.not_equal(x, 0) & (tf.range(tf.shape(x)[1])[None, :] >= start[:, None])
        pair = tf.stack([tf.boolean_mask(y, keep), tf.boolean_mask(y2, keep)], axis=1)  # [P, 2]
        lp = c.net.target_logprobs(tf.boolean_mask(h, keep), pair)
        return lp[:, 0], lp[:, 1]

    return targets_pair


def _chunk(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None]), _spec([None]), _spec([1, c.state_size], "float32")])
    def chunk(x, y, state):
        states = tf.scan(lambda s, i: c.net.cell_step(i[None], s)[1], x, initializer=state)  # [T, 1, S]
        return c.net.target_logprobs(c.net.output(states[:, 0]), y), states[-1]

    return chunk


def _read(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None, None])])
    def read(ids):
        state = c.net.read(ids)
        return c.net.log_softmax(c.net.output(state)), state

    return read


def _step(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None]), _spec([None, c.state_size], "float32")])
    def step(ids, state):
        h, new_state = c.net.cell_step(ids, state)
        return c.net.log_softmax(h), new_state

    return step


def _level(c: Compiled):
    import tensorflow as tf

    @tf.function(input_signature=[_spec([None]), _spec([None, c.state_size], "float32"), _spec([None]), _spec([None])])
    def level(ids, state, rows, targets):
        h, new_state = c.net.cell_step(ids, state)
        return c.net.target_logprobs(h, targets, rows), new_state

    return level


def _greedy(c: Compiled):
    from wordlm.inference.search_loops import build_greedy

    return build_greedy(c.net, c.vocab_size)


def _beam(c: Compiled):
    from wordlm.inference.search_loops import build_beam

    return build_beam(c.net, c.vocab_size)


_BUILDERS = {
    "next_fixed": _next_fixed, "next_recurrent": _next_recurrent, "targets_fixed": _targets_fixed,
    "targets": _targets, "targets_pair": _targets_pair, "chunk": _chunk, "read": _read, "step": _step, "level": _level,
    "greedy": _greedy, "beam": _beam,
}
