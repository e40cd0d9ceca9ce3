"""LanguageModel: tokenizer settings + Vocabulary + Framing + Keras network, and the primitives.

The primitives everything else (scoring, reranking, decoding, the object API) is built on:

- `next_logprobs(histories)` → <float32>[batch, vocab]: ln p(next token | history) after each
  history (a list of ids, `<s>` first when the model has boundaries). Tokens that can never be
  predicted (`<pad>`, `<s>`, and `</s>` for a model without boundaries) get -inf, so each row is a
  distribution over the vocabulary that sums to 1;
- `stream_logprobs(streams, skips=None)`: ln p(stream[t] | stream[:t]) at every scored position of
  whole streams: the one sentence-scoring path (one forward pass per batch for recurrent framings);
- `start(histories)` / `step(state, ids)`: carrying the LSTM state, for framings whose context is
  the whole history; `carries_state(n)` is the one rule for when that is exact.

They run compiled functions of `inference/` (`lm.compiled`, cached by this object, rebuilt when
`keras_model` is replaced), never `model.predict`. The user-facing methods (score, full_scores,
perplexity, next_words, generate, rerank, begin/advance, save, export) are in `api.py`.
Not here: training (`training/`), saving (`saving.py`), scoring conventions (`scoring/`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from wordlm.api import LanguageModelAPI
from wordlm.framings import Framing, LineFraming
from wordlm.inference import streams
from wordlm.model import ModelSize, count_parameters, forward_flops_per_token
from wordlm.text import Tokenizer
from wordlm.vocab import BOS_ID, EOS_ID, PAD_ID, Vocabulary


class LanguageModel(LanguageModelAPI):
    """A trained (or freshly built) word-level language model: its text conventions, the primitives,
    and the user-facing methods of `api.py` (score, full_scores, perplexity, next_words, …)."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        vocab: Vocabulary,
        framing: Framing,
        size: ModelSize,
        keras_model,
        info: dict | None = None,
        runtime=None,
    ):
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.framing = framing
        self.size = size
        self._compiled = None
        self.keras_model = keras_model  # None when the network runs without Keras (`runtime`)
        if runtime is not None:
            self.runtime = runtime  # `wordlm.runtime`: what runs the network (TensorFlow or ONNX Runtime)
        self.info = dict(info or {})  # training statistics: corpus, epochs, validation ppl, ...
        self.source = None  # the model directory it was loaded from or last saved to, if any

    def __repr__(self) -> str:
        """What the model is, on one line: framing, tokenizer, vocabulary, network, where it came from."""
        framing = self.framing.name + (f" {self.framing.n}" if self.framing.name == "window" else "")
        parts = [f"{framing} framing", "boundaries " + ("on" if self.boundaries else "off"),
                 f"{self.tokenizer.mode} tokenizer", f"{self.vocab_size:,} ids ({self.vocab.num_words:,} words)",
                 f"{self.size.layers}x LSTM {self.size.units}, embedding {self.size.embedding_dim}"]
        if self.reverse:
            parts.append("backward")
        parts.append(f"from {str(self.source)!r}" if self.source is not None else "not saved")
        return f"<LanguageModel {', '.join(parts)}>"

    # -- text ---------------------------------------------------------------------------------
    @property
    def boundaries(self) -> bool:
        return self.framing.boundaries

    @property
    def reverse(self) -> bool:
        """True for a backward model: lines are read right to left."""
        return bool(self.info.get("reverse", False))

    def tokens(self, text: str) -> list[str]:
        """The line's tokens in reading order (reversed for a backward model)."""
        tokens = self.tokenizer.tokenize(text)
        return tokens[::-1] if self.reverse else tokens

    def encode(self, text: str) -> list[int]:
        """Vocabulary ids of a line's tokens, no boundary markers."""
        return self.vocab.encode(self.tokens(text))

    def history(self, text: str) -> list[int]:
        """The history a prompt stands for: `<s>` + its ids with boundaries, else its ids."""
        ids = self.encode(text)
        return [BOS_ID, *ids] if self.boundaries else ids

    def stream(self, text: str) -> list[int]:
        """A whole line as the framing reads it (`<s> … </s>` with boundaries)."""
        return self.framing.line(self.encode(text))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def never_predicted(self) -> list[int]:
        """Ids that get probability 0: padding, `<s>`, and `</s>` without boundaries."""
        ids = [PAD_ID, BOS_ID]
        if not self.boundaries:
            ids.append(EOS_ID)
        return ids

    def mask_bias(self) -> np.ndarray:
        """<float32>[vocab]: -inf on `never_predicted()`, 0 elsewhere; added to the logits so each
        next-token distribution sums to 1 over the tokens that can be predicted."""
        bias = np.zeros(self.vocab_size, dtype=np.float32)
        bias[self.never_predicted()] = -np.inf
        return bias

    @property
    def num_parameters(self) -> int:
        if self.keras_model is None:  # run by ONNX Runtime: counted from the sizes
            return count_parameters(self.vocab_size, self.size)
        return int(self.keras_model.count_params())

    @property
    def flops_per_token(self) -> int:
        return forward_flops_per_token(self.vocab_size, self.size)

    # -- the primitives (inference/streams.py) -------------------------------------------------
    def next_logprobs(self, histories: Sequence[Sequence[int]], batch_size: int = 256) -> np.ndarray:
        """<float32>[batch, vocab]: ln p(next token | history) for each history (natural log)."""
        return streams.next_logprobs(self, histories, batch_size)

    def stream_logprobs(self, token_streams: Sequence[Sequence[int]], batch_size: int | None = None,
                        skips: Sequence[int] | None = None) -> list[np.ndarray]:
        """For each stream s, <float64>[len(s) - 1 - skip]: ln p(s[t] | s[:t]) for t = skip + 1 … len - 1.

        `skips[i]` (recurrent models): stream i's first positions are context only (read, not scored);
        default `framing.first_target - 1` (`<s>`, or a no-boundary line's first word, is never
        predicted). The one sentence-scoring path; independent of batching to float32 rounding.
        `batch_size`: streams per forward pass (default: 64, more for short streams).
        """
        return streams.stream_logprobs(self, token_streams, skips, max_batch=batch_size)

    def stream_logprobs_flat(self, token_streams: Sequence[Sequence[int]], batch_size: int | None = None,
                             skips: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`stream_logprobs` as (<float64>[scored positions], <int64>[streams + 1] offsets): stream i's
        scores are `flat[offsets[i]:offsets[i + 1]]`. A subclass that answers `stream_logprobs` its
        own way (a test stub) is asked through it."""
        if type(self).stream_logprobs is not LanguageModel.stream_logprobs:
            parts = self.stream_logprobs(token_streams, skips=skips) if batch_size is None else \
                self.stream_logprobs(token_streams, batch_size, skips)
            offsets = np.zeros(len(parts) + 1, dtype=np.int64)
            np.cumsum([len(p) for p in parts], out=offsets[1:])
            flat = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts]) if parts else np.zeros(0)
            return flat, offsets
        return streams.stream_logprobs_flat(self, token_streams, skips, max_batch=batch_size)

    def stream_logprobs_packed(self, ids: np.ndarray, starts: np.ndarray, batch_size: int | None = None,
                               skips=None) -> tuple[np.ndarray, np.ndarray]:
        """`stream_logprobs_flat` of streams packed in one array: stream i is `ids[starts[i]:starts[i + 1]]`."""
        if type(self).stream_logprobs is not LanguageModel.stream_logprobs:
            lists = [ids[lo:hi].tolist() for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist())]
            return self.stream_logprobs_flat(lists, batch_size, None if skips is None else list(skips))
        return streams.stream_logprobs_packed(self, ids, starts, skips, max_batch=batch_size)

    # -- incremental state --------------------------------------------------------------------
    @property
    def stateful(self) -> bool:
        """True when the context is the whole history read by the LSTM, so state can be carried."""
        return self.framing.recurrent or isinstance(self.framing, LineFraming)

    @property
    def state_size(self) -> int:
        return 2 * self.size.layers * self.size.units

    def max_stateful_history(self) -> int | None:
        """Longest history for which carrying state equals re-reading (None: no limit)."""
        return self.framing.input_length if isinstance(self.framing, LineFraming) else None

    def carries_state(self, longest_history: int) -> bool:
        """The one rule for "carried state is exact": True when reading histories of up to
        `longest_history` tokens one token at a time, carrying the LSTM state, gives the numbers of
        re-reading them whole (`sequence`, `char`; `line` while a history fits its input length)."""
        limit = self.max_stateful_history()
        return self.stateful and (limit is None or longest_history <= limit)

    def start(self, histories: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Read whole histories (one compiled call): (<float32>[batch, vocab] next log-probs,
        <float32>[batch, state] LSTM states)."""
        return streams.start(self, histories)

    def step(self, state: np.ndarray, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Read one more token per row: returns (next log-probs, new state), both numpy float32."""
        return streams.step(self, state, ids)

    # -- the compiled functions (inference/compiled.py) ------------------------------------------
    @property
    def has_network(self) -> bool:
        """True when a network answers under a runtime (`lm.runtime`: a Keras network through TensorFlow,
        or ONNX Runtime's graph with no `keras_model`); a stub that computes its numbers otherwise: False."""
        return self.runtime is not None

    @property
    def keras_model(self):
        return self._keras_model

    @keras_model.setter
    def keras_model(self, model) -> None:
        self._keras_model = model
        self._compiled = None
        if model is not None:  # a Keras network runs through TensorFlow
            from wordlm.runtime import TensorFlowRuntime

            self.runtime = TensorFlowRuntime()
        elif not hasattr(self, "runtime"):
            self.runtime = None  # no network (a test stub): the primitives are its own

    @property
    def compiled(self):
        """The compiled functions of this model's network, built on first use by its runtime
        (`inference.compiled` under TensorFlow, `runtime/ort.py` under ONNX Runtime)."""
        if self._compiled is None or self._compiled.keras_model is not self._keras_model:
            self._compiled = self.runtime.compiled(self)
        return self._compiled

    def reset_compiled(self) -> None:
        """Forget compiled functions (they are rebuilt on next use)."""
        self._compiled = None
