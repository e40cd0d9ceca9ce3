"""Training: corpus files → vocabulary → streamed, bucketed batches → fitted Keras model → LanguageModel.

One concept per module, in the order `train` (loop.py) uses them:
- `config.py`: `TrainConfig` and the one home of the rules on its options (the CLI and `train`
  both call `TrainConfig.validate`; `check_model` for what needs the model);
- `checkpoint.py`: the destination check before any work, the best model saved after each epoch,
  interrupts (Ctrl-C, SIGTERM: stop after the current step, keep the best model), resuming with
  the optimizer state;
- `corpus.py`: a streaming counting pass for the vocabulary (`token_lines`), then the text
  encoded to ids on disk and read back through memmap: memory does not grow with the corpus;
- `factory.py`: the one model factory (`new_model`), built inside the distribution strategy's
  scope (`distribute.py`); pre-trained vectors initialise the rows of the words they cover
  (`embeddings.py`), optionally frozen;
- `batches.py`: a seeded, shuffled, length-bucketed `tf.data` pipeline over the encoded corpus;
  with `context_tokens` N an example is a run of consecutive lines of at most N inputs
  (`running_text.pack_lines`), so the model learns to read a line after the lines before it;
- fit: sparse integer targets (never one-hot), Adam, `from_logits=True` cross-entropy averaged
  over predicted tokens (padding targets, id 0, ignored); optional XLA. Recurrent models on one
  device take `fast_step.py`'s step (the same loss and gradients, faster), which can also train
  with a sampled softmax until the last quarter and with tied embeddings. With `ema` M the
  optimizer keeps a moving average of the weights, which validation, checkpoints and the
  returned model use;
- `callbacks.py`: after each epoch the validation perplexity exactly as the scorer computes it
  (`validation.py`: natural log, `</s>` counted, OOVs as `<unk>`, the same context), the best
  model saved to `output` (atomically), `patience`, `lr_decay`, `time_limit`; a loss or weights
  that stop being finite end the run with `TrainingDiverged`, and are never saved.
Keras's progress goes to stderr (stdout is for data only).

Not here: the network (`model.py`), what an example is (`framings.py`), the file format (`saving.py`).
"""

from __future__ import annotations

from wordlm.lazy import lazy_attributes
from wordlm.training.config import FAST_STEP_NEEDS, FULL_SOFTMAX_TAIL, TrainConfig

_LAZY = {  # these import Keras: loaded on first use (PEP 562), so `TrainConfig` alone stays light
    "train": "wordlm.training.loop",
    "new_language_model": "wordlm.training.factory",
    "new_model": "wordlm.training.factory",
    "perplexity": "wordlm.training.validation",
    "Corpus": "wordlm.training.corpus",
    "read_tokenized": "wordlm.training.corpus",
}

__all__ = ["FAST_STEP_NEEDS", "FULL_SOFTMAX_TAIL", "TrainConfig", *_LAZY]
__getattr__ = lazy_attributes(__name__, _LAZY)
