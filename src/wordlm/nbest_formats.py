"""The SRILM, Kaldi and NeMo n-best readers under their former name: they live in
`wordlm.nbest.recognizers` (kept so that `from wordlm.nbest_formats import read_refs` still works)."""

from wordlm.nbest.recognizers import (BYTELOG_TO_LN, is_directory, read_kaldi, read_nemo, read_refs,  # noqa: F401
                                      read_srilm)
