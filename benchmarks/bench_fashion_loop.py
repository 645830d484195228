"""Seconds per epoch of the fashion_mnist training step: eager loop, tf.function loop, model.fit.

Synthetic data of the real shape (60,000 x 784 floats in [0, 1], 10 classes), the notebook's
model (784 -> 64 -> 64 -> 10) with Adam and sparse categorical cross-entropy, batch 64. Each
method starts from the same weights with a fresh optimizer, takes one untimed warm-up step
(tracing, optimizer variables) and is then timed over whole epochs of the same in-memory
batches. Prints the figures and their ratios; it asserts nothing (a benchmark, not a test).

    .venv/bin/python benchmarks/bench_fashion_loop.py                 # 1 epoch, 60,000 examples
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


def time_loop(step: Callable, model: keras.Model, weights: list, ds: tf.data.Dataset,
              epochs: int) -> float:
    """Seconds per epoch of a hand-written loop over ``ds`` calling ``step`` once per batch."""
    model.set_weights(weights)
    optimizer = keras.optimizers.Adam()
    loss_object = keras.losses.SparseCategoricalCrossentropy()
    x0, y0 = next(iter(ds))
    step(optimizer, loss_object, model, x0, y0)  # warm-up: trace, build the optimizer
    start = time.perf_counter()
    for _ in range(epochs):
        for x, y in ds:
            step(optimizer, loss_object, model, x, y)
    return (time.perf_counter() - start) / epochs


def time_fit(model: keras.Model, weights: list, ds: tf.data.Dataset, epochs: int) -> float:
    """Seconds per epoch of ``model.fit`` on the same batches (after a one-batch warm-up)."""
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy())
    model.fit(ds.take(1), epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    model.fit(ds, epochs=epochs, shuffle=False, verbose=0)
    return (time.perf_counter() - start) / epochs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per method")
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
        "eager loop": time_loop(train_step, model, weights, ds, args.epochs),
        "tf.function loop": time_loop(tf.function(train_step), model, weights, ds, args.epochs),
        "model.fit": time_fit(model, weights, ds, args.epochs),
    }
    for name, value in seconds.items():
        print(f"{name:>17}: {value:8.3f} s per epoch ({1000 * value / steps:.2f} ms per step)")
    eager, graph, fit = seconds["eager loop"], seconds["tf.function loop"], seconds["model.fit"]
    print(f"eager / tf.function:  {eager / graph:.2f}x")
    print(f"eager / fit:          {eager / fit:.2f}x")
    print(f"tf.function / fit:    {graph / fit:.2f}  (<= 1.0: the tf.function loop is as fast)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
