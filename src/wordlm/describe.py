"""What a saved model is, for people and programs: `wordlm info`, `lm.describe()` and the service's /v1/info.

`describe(config)` turns a model's `wordlm.json` (as `saving.read_config` returns it, or
`saving.model_config(lm)` for a loaded model) into a JSON-ready summary: framing, tokenizer,
vocabulary (words, and the size with the 4 reserved ids), network sizes and parameter count, the
training corpus, epochs and the best validation perplexity. `describe_lines(summary)` is the
text `wordlm info` prints.
"""

from __future__ import annotations

from wordlm.model import ModelSize, count_parameters


def describe(config: dict) -> dict:
    """The summary of a model from its `wordlm.json` contents (no TensorFlow needed)."""
    size = ModelSize.from_config(config["size"])
    vocab_size = len(config["vocab"]["words"]) + 4
    train_info = config.get("info") or {}
    summary = {
        "framing": config["framing"],
        "tokenizer": config["tokenizer"],
        "reverse": bool(train_info.get("reverse", False)),
        "context_tokens": int((train_info.get("train_config") or {}).get("context_tokens") or 0),
        # The last run's choice: the output layer was trained as the embedding's transpose.
        "tied_embeddings": bool(((train_info.get("runs") or [{}])[-1]).get(
            "tie_embeddings", (train_info.get("train_config") or {}).get("tie_embeddings", False))),
        "vocab_words": vocab_size - 4,
        "vocab_size": vocab_size,
        "size": size.to_config(),
        "parameters": count_parameters(vocab_size, size),
        "corpus": train_info.get("corpus"),
        "examples": train_info.get("examples"),
        "epochs_run": train_info.get("epochs_run"),
        "epochs_total": train_info.get("epochs_total", train_info.get("epochs_run")),
        "runs": len(train_info.get("runs") or []) or None,
        "best_epoch": train_info.get("best_epoch"),
        "valid_ppl": train_info.get("best_valid_ppl"),
        "format_version": config["format_version"],
    }
    return summary


def describe_lines(summary: dict) -> list[str]:
    """`wordlm info`'s lines for a summary from `describe`."""
    size = ModelSize.from_config(summary["size"])
    vocab_size = summary["vocab_size"]
    out: list[str] = []
    fr = summary["framing"]
    extra = f", context {fr['context']}" if fr["name"] == "window" else ""
    extra += f", max length {fr['max_length']}" if fr["name"] == "line" else ""
    out.append(f"framing:      {fr['name']}{extra}, boundaries {'on' if fr['boundaries'] else 'off'}"
               + (", reverse" if summary["reverse"] else "")
               + (f", running text ({summary['context_tokens']} tokens)" if summary["context_tokens"] else ""))
    tok = summary["tokenizer"]
    out.append(f"tokenizer:    {tok['mode']}{', lower-case' if tok['lower'] else ''}")
    out.append(f"vocabulary:   {summary['vocab_words']} words (+4 reserved: <pad> <unk> <s> </s>)")
    out.append(f"network:      embedding {size.embedding_dim}, {size.layers}x LSTM {size.units}, dropout {size.dropout}"
               + (", output layer tied to the embedding" if summary["tied_embeddings"] else ""))
    distinct = summary["parameters"] - size.units * vocab_size  # tied: the output kernel is a copy
    out.append(f"parameters:   {summary['parameters']:,}"
               + (f" ({distinct:,} distinct: the output kernel is the embedding's transpose)"
                  if summary["tied_embeddings"] else ""))
    corpus = summary["corpus"]
    if corpus:
        out.append(f"corpus:       {corpus['lines']:,} lines, {corpus['tokens']:,} tokens, OOV rate {corpus['oov_rate']:.2%} "
                   f"({', '.join(corpus['files'])})")
    runs = summary["runs"] or 1
    if summary["examples"] is not None:
        total = f"{summary['epochs_total']} epochs" + (f" in {runs} runs (last: {summary['epochs_run']})" if runs > 1 else "")
        out.append(f"training:     {summary['examples']:,} examples, {total}")
    if summary["valid_ppl"] is not None:
        out.append(f"validation:   perplexity {summary['valid_ppl']:.2f} (epoch {summary['best_epoch']}"
                   + (" of the last run)" if runs > 1 else ")"))
    return out
