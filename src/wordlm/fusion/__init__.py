"""Shallow fusion: a wordlm model inside an outside CTC decoder's beam search.

- `pyctc`: pyctcdecode 0.5 (`WordlmLanguageModel`, `FusionDecoderCTC`, `build_ctcdecoder`).
- `flashlight`: flashlight-text's `LM` (torchaudio's `CTCDecoderLM`): `WordlmFlashlightLM`, the
  lexicon trie and word list from the model's vocabulary, `build_lexicon_decoder`.
- `states`: what both share: lazy LM states evaluated in one batched `lm.extend` per decoder frame,
  an LRU cache of histories bounded in bytes, word ids and a prefix trie without the model.
- `nbest`: a decoder's final beams as an n-best list (`text` + acoustic and LM fields) that
  `wordlm rerank`/`tune` read.

Needs the `ctc` extra (`pip install 'wordlm[ctc]'`: pyctcdecode, flashlight-text); `states` and
`nbest` need neither. Not here: the model interface (`protocol.py`), the CTC emissions.
"""

from wordlm.fusion.states import FusionLM, Node, PrefixTrie

__all__ = ["FusionLM", "Node", "PrefixTrie", "build_ctcdecoder", "WordlmLanguageModel", "FusionDecoderCTC",
           "WordlmFlashlightLM", "build_lexicon_decoder"]

_LAZY = {"build_ctcdecoder": "pyctc", "WordlmLanguageModel": "pyctc", "FusionDecoderCTC": "pyctc",
         "fusion_model": "pyctc", "WordlmFlashlightLM": "flashlight", "build_lexicon_decoder": "flashlight",
         "write_lexicon": "flashlight"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wordlm.fusion' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"wordlm.fusion.{module}"), name)
