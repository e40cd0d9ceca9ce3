"""Distributed training with TensorFlow's own strategies: which one, its scope, its data, its writer.

- `mirrored`: `tf.distribute.MirroredStrategy` over the local devices: every GPU, or, on a machine
  without GPUs, every logical CPU device (one unless the process split its CPU with
  `tf.config.set_logical_device_configuration` before TensorFlow started). Synchronous data
  parallelism: each global batch (`--batch-size` rows) is split evenly across the replicas and
  their gradients are summed.
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy`, configured by the standard
  `TF_CONFIG` environment variable (`{"cluster": {"worker": ["host:port", ...]}, "task":
  {"type": "worker", "index": i}}`); run the same command on every worker. Each worker builds the
  same global batch plan from the seed and reads only its own rows (`streaming.make_dataset`),
  so the data pipeline is sharded, not replicated. Worker 0 (the chief) writes the model.

Keras scales each replica's loss by 1 / replicas, so a step minimises the mean over replicas of
each replica's per-token mean loss; with the rows split evenly this is the single-device loss up to
how the padding falls, and results agree with single-device training to float rounding and that.

Not here: the batches themselves (`batches.py`), the training loop (`loop.py`).
"""

from __future__ import annotations

import contextlib
import json
import os

from wordlm.errors import InputError

STRATEGIES = ("mirrored", "multi-worker")


def make_strategy(kind: str | None):
    """The tf.distribute strategy for `kind` (None: no strategy, plain single-device training).

    Must be called before TensorFlow runs any operation (MultiWorkerMirroredStrategy configures
    the collective ops at start-up).
    """
    if kind is None:
        return None
    if kind not in STRATEGIES:
        raise InputError(f"unknown --distribute {kind!r}: expected one of {', '.join(STRATEGIES)}")
    import tensorflow as tf

    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)  # all-reduce: NCCL on GPUs, else via one device
    check_tf_config(os.environ.get("TF_CONFIG"))
    return tf.distribute.MultiWorkerMirroredStrategy()


def check_tf_config(value: str | None) -> dict:
    """Parse and check TF_CONFIG for multi-worker training; InputError naming what is wrong."""
    if not value:
        raise InputError(
            "--distribute multi-worker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        config = json.loads(value)
    except json.JSONDecodeError as e:
        raise InputError(f"TF_CONFIG: not JSON ({e})") from None
    workers = (config.get("cluster") or {}).get("worker") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) for w in workers):
        raise InputError('TF_CONFIG: "cluster" needs a "worker" list of "host:port" addresses')
    if not isinstance(task, dict) or task.get("type") not in ("worker", "chief"):
        raise InputError('TF_CONFIG: "task" needs {"type": "worker", "index": N}')
    index = task.get("index")
    if task.get("type") == "worker" and (not isinstance(index, int) or not 0 <= index < len(workers)):
        raise InputError(f"TF_CONFIG: task index {index!r} is not one of the {len(workers)} workers")
    return config


def scope(strategy):
    """The strategy's variable scope (a no-op without a strategy): build and compile models in it."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def replicas(strategy) -> int:
    """Replicas that train in sync (1 without a strategy)."""
    return strategy.num_replicas_in_sync if strategy is not None else 1


def is_chief(strategy) -> bool:
    """True on the process that writes the model (always, except on workers 1, 2, … of a cluster)."""
    if strategy is None:
        return True
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict())


def distribute_dataset(strategy, make_dataset):
    """The training data for `fit`: `make_dataset(shard, num_shards)` per input pipeline.

    Multi-worker: one pipeline per worker, each reading its own rows of every global batch.
    Mirrored and single-device: one pipeline of global batches (Keras splits them across replicas).
    """
    import tensorflow as tf

    if strategy is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return make_dataset(0, 1)
    return strategy.distribute_datasets_from_function(
        lambda ctx: make_dataset(ctx.input_pipeline_id, ctx.num_input_pipelines)
    )


def prepare_model(model, strategy) -> None:
    """Work around two Keras 3 bugs with MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388).

    1. Before `fit`, Keras takes one batch to build the model symbolically and averages it across
       workers with `strategy.reduce` over the (inputs, targets) tuple, which this strategy cannot
       reduce; only the batch's shapes matter there, so this model takes the local values instead.
    2. After each step Keras averages the logs across workers with `reduce("MEAN", v, axis=0)`,
       which fails on scalars; this model's `train_step` returns its logs with shape [1].
    A no-op without a multi-worker strategy.
    """
    import tensorflow as tf

    if strategy is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    if not hasattr(model, "_maybe_symbolic_build") or not hasattr(model, "_symbolic_build"):
        return  # a Keras without this start-up step

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(local, next(it))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = maybe_symbolic_build
    train_step = model.train_step

    def vector_logs_train_step(data):
        return {k: tf.reshape(v, [1]) for k, v in train_step(data).items()}

    model.train_step = vector_logs_train_step

