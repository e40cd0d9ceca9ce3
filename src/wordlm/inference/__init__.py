"""The inference core: every compiled function on the network, and the primitives built on them.

- `network.py`: the Keras model's layers as building blocks, and the one softmax formula;
- `compiled.py`: the compiled functions, cached by the model that owns them (`lm.compiled`);
- `streams.py`: the primitives on numpy arrays (next-token log-probs, sentence scores, carried state);
- `search_loops.py`: the greedy and beam searches as compiled loops.

Under ONNX Runtime (`wordlm.runtime`), `lm.compiled` is `runtime/ort.py`'s functions of the same
names on an ONNX graph of the network, and `streams.py` runs unchanged on them.
Everything that reads the network at inference time goes through here; training has its own step
(`training/`) and the SavedModel export its own graph (`export.py`), each checked against these numbers.
"""
