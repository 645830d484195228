"""Seconds per epoch of the fashion_mnist training step: eager, tf.function and model.fit.

Synthetic data of the real shape (60,000 x 784 floats in [0, 1], 10 classes), the notebook's
model (784 -> 64 -> 64 -> 10) with Adam and sparse categorical cross-entropy, batch 64. Four
ways to run the same step: a Python loop calling it eagerly; a Python loop calling it wrapped
in ``tf.function`` (as the notebook's "make it fast" section does); the whole epoch inside one
``tf.function``; and ``model.fit``. Each starts from the same weights with a fresh optimizer,
takes one untimed warm-up step (tracing) and is then timed over whole epochs of the same
in-memory batches; the best epoch counts (the machine is shared). Prints the figures and their
ratios; it asserts nothing (a benchmark, not a test).

    .venv/bin/python benchmarks/bench_fashion_loop.py                 # 2 epochs, 60,000 examples
    .venv/bin/python benchmarks/bench_fashion_loop.py --epochs 3 --examples 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def build_model(seed: int) -> keras.Model:
    """The notebook's network: Input(784) -> Dense(64, relu) x2 -> Dense(10, softmax)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(784,))
    x = keras.layers.Dense(64, activation="relu")(inputs)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def synthetic_dataset(examples: int, batch_size: int, seed: int) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    x = rng.random((examples, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=examples).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache().prefetch(
        tf.data.AUTOTUNE
    )


def train_step(optimizer: Any, loss_object: Any, model: keras.Model, x: Any, y: Any) -> Any:
    """The notebook's step: forward pass under a tape, loss, gradients, optimizer step."""
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_object(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    return loss_value


def eager_step(optimizer: Any, loss_object: Any, model: keras.Model) -> Callable:
    """The step run eagerly, op by op."""
    return lambda x, y: train_step(optimizer, loss_object, model, x, y)


def graph_step(optimizer: Any, loss_object: Any, model: keras.Model) -> Callable:
    """The same step in tf.function; the closure keeps Python objects out of the call."""

    @tf.function
    def step(x: Any, y: Any) -> Any:
        return train_step(optimizer, loss_object, model, x, y)

    return step


def graph_epoch(optimizer: Any, loss_object: Any, model: keras.Model) -> Callable:
    """The whole epoch in one tf.function (the batch loop becomes a graph loop)."""
    step = graph_step(optimizer, loss_object, model)

    @tf.function
    def epoch(ds: tf.data.Dataset) -> None:
        for x, y in ds:
            step(x, y)

    return epoch


def time_loop(make_step: Callable, model: keras.Model, weights: list, ds: tf.data.Dataset,
              epochs: int, whole_epoch: bool = False) -> list[float]:
    """Seconds of each timed epoch of a hand-written loop (after one untimed warm-up step)."""
    model.set_weights(weights)
    optimizer = keras.optimizers.Adam()
    loss_object = keras.losses.SparseCategoricalCrossentropy()
    optimizer.build(model.trainable_variables)
    run = make_step(optimizer, loss_object, model)
    if whole_epoch:
        run(ds.take(1))  # warm-up step: traces the epoch function
    else:
        run(*next(iter(ds)))  # warm-up step: traces the step function
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        if whole_epoch:
            run(ds)
        else:
            for x, y in ds:
                run(x, y)
        times.append(time.perf_counter() - start)
    return times


def time_fit(model: keras.Model, weights: list, ds: tf.data.Dataset, epochs: int) -> list[float]:
    """Seconds of each epoch of ``model.fit`` on the same batches (after a one-batch warm-up)."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.perf_counter() - self.start)

    times: list[float] = []
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy())
    model.fit(ds.take(1), epochs=1, shuffle=False, verbose=0)
    model.fit(ds, epochs=epochs, shuffle=False, verbose=0, callbacks=[EpochTimer()])
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per method")
    parser.add_argument("--examples", type=int, default=60_000, help="examples per epoch")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    ds = synthetic_dataset(args.examples, args.batch_size, args.seed)
    for _ in ds:  # fill the cache: every method reads the same batches from memory
        pass
    model = build_model(args.seed)
    weights = model.get_weights()
    steps = -(-args.examples // args.batch_size)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; {args.examples} examples x 784, batch {args.batch_size} "
          f"({steps} steps per epoch), {args.epochs} timed epoch(s) per method")

    seconds = {
        "eager loop": time_loop(eager_step, model, weights, ds, args.epochs),
        "tf.function step": time_loop(graph_step, model, weights, ds, args.epochs),
        "tf.function epoch": time_loop(graph_epoch, model, weights, ds, args.epochs,
                                       whole_epoch=True),
        "model.fit": time_fit(model, weights, ds, args.epochs),
    }
    best = {name: min(times) for name, times in seconds.items()}
    for name, times in seconds.items():
        print(f"{name:>17}: {best[name]:8.3f} s per epoch, best of {len(times)} "
              f"(mean {np.mean(times):.3f}; {1000 * best[name] / steps:.2f} ms per step)")
    fit = best["model.fit"]
    print(f"eager / tf.function step:      {best['eager loop'] / best['tf.function step']:.2f}x")
    print(f"eager / fit:                   {best['eager loop'] / fit:.2f}x")
    print(f"tf.function step / fit:        {best['tf.function step'] / fit:.2f}")
    print(f"tf.function epoch / fit:       {best['tf.function epoch'] / fit:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
