"""SRILM's `ngram -ppl -debug 2` output, so `compute-best-mix`, `ngram -ppl` parsers and friends read
wordlm's scores (`score`/`perplexity --format srilm`).

Per sentence: the line, then one line per scored token, log10 as SRILM prints it,

    jack and jill
    	p( jack | <s> ) 	= [wordlm] 0.330216 [ -0.481201 ]
    	p( and | jack ...) 	= [wordlm] 0.458321 [ -0.338832 ]
    	p( </s> | jill ...) 	= [wordlm] 0.12 [ -0.920819 ]
    1 sentences, 3 words, 0 OOVs
    0 zeroprobs, logprob= -2.12 ppl= 3.39 ppl1= 5.09
    (blank line)

and at the end `file NAME: S sentences, W words, O OOVs` and the totals' line. The bracketed
field names the model kind (`[wordlm]`, `[mixture]`) where SRILM names the n-gram order; a skipped
OOV (`--oov skip`) is `[OOV] 0 [ -inf ]`, exactly as SRILM writes it (and as `compute-best-mix`
skips it); a context-only token (`--no-bos`) has no line. The context shows the previous token and
`...` when there are more, as SRILM does. The counts follow SRILM's meaning: `OOVs` are the words
left out of the perplexity (skipped), so SRILM's formulas, ppl = 10^(−logprob / (W − OOVs + S))
and ppl1 = 10^(−logprob / (W − OOVs)), give wordlm's ppl and ppl1; with `--oov unk` an OOV is
scored as `<unk>` and counted as a word (SRILM's `-unk`). Not here: the scores (`sentences.py`).
"""

from __future__ import annotations

import math

LN10 = math.log(10.0)


def _g(x: float) -> str:
    return f"{x:.6g}"


def sentence_lines(s, kind: str = "wordlm") -> list[str]:
    """The debug-2 block of one `SentenceScore` (ends with a blank line)."""
    out = [s.text]
    previous: list[str] = ["<s>"] if s.context == 0 else []
    for k, (token, lp) in enumerate(zip(s.tokens, s.logprobs)):
        if k < s.context:
            previous.append(token)
            continue
        ctx = (f"{previous[-1]} ...)" if len(previous) > 1 else f"{previous[-1]} )") if previous else ")"
        if math.isnan(lp):  # a skipped OOV
            out.append(f"\tp( {token} | {ctx} \t= [OOV] 0 [ -inf ]")
        else:
            out.append(f"\tp( {token} | {ctx} \t= [{kind}] {_g(math.exp(lp))} [ {_g(lp / LN10)} ]")
        previous.append(token)
    out.append(f"1 sentences, {s.words} words, {skipped(s.words, s.scored, s.ends)} OOVs")
    out.append(f"0 zeroprobs, logprob= {_g(s.logprob / LN10)} ppl= {_g_or(ppl(s.logprob, s.scored))} "
               f"ppl1= {_g_or(ppl(s.logprob, s.scored - s.ends))}")
    out.append("")
    return out


def summary_lines(summary, name: str) -> list[str]:
    """SRILM's two closing lines for a file."""
    js = summary.to_json()
    return [f"file {name}: {js['sentences']} sentences, {js['words']} words, "
            f"{skipped(js['words'], js['scored'], js['ends'])} OOVs",
            f"0 zeroprobs, logprob= {_g(js['logprob'] / LN10)} ppl= {_g_or(js['ppl'])} ppl1= {_g_or(js['ppl1'])}"]


def skipped(words: int, scored: int, ends: int) -> int:
    """Words left out of the perplexity (SRILM's OOV count): W − (scored tokens − `</s>`)."""
    return max(0, words - (scored - ends))


def ppl(logprob: float, n: int) -> float | None:
    if n <= 0:
        return None
    e = -logprob / n
    return math.exp(e) if e < 709 else math.inf


def _g_or(x) -> str:
    return "undefined" if x is None else _g(x)
