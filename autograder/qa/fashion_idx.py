"""Small Fashion-MNIST IDX files in the real format, for offline runs and tests.

There is no copy of Fashion-MNIST in this repository. ``python -m autograder.qa.fashion_idx
FOLDER`` writes the four IDX files (gzip, big-endian headers, the published counts) with
synthetic images, so the real TFDS preparation path (``TFCOURSE_FASHION_MNIST_DIR``) can be
exercised without a network; a folder with the four real files works the same way.
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path
from typing import Any


def write_idx_mirror(
    folder: Path, n_train: int = 60_000, n_test: int = 10_000, seed: int = 0
) -> Path:
    """Write four IDX files in the real format (gzip, big-endian headers) into ``folder``.

    TFDS's fashion_mnist builder expects the published counts (60,000 / 10,000), so those are
    the defaults. Images are mostly black with a random 6x6 patch (unique, and small once
    gzipped); labels are random. The checksums differ from the published files, so TFDS's
    checksum check rejects them unless a test registers their checksums.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:, 11:17, 11:17] = rng.integers(0, 256, size=(n, 6, 6), dtype=np.uint8)
        labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        with gzip.GzipFile(folder / f"{prefix}-images-idx3-ubyte.gz", "wb", mtime=0) as fh:
            fh.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.GzipFile(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb", mtime=0) as fh:
            fh.write(struct.pack(">II", 2049, n) + labels.tobytes())
    return folder


def read_idx(path: Path) -> Any:
    """Read one (gzipped) IDX file into a numpy array; checks the magic number."""
    import numpy as np

    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic, count = struct.unpack(">II", raw[:8])
    if magic == 2049:
        return np.frombuffer(raw, dtype=np.uint8, offset=8, count=count)
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)
    raise ValueError(f"{path} is not an IDX file (magic {magic})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--train", type=int, default=60_000, help="training examples")
    p.add_argument("--test", type=int, default=10_000, help="test examples")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(write_idx_mirror(args.folder, args.train, args.test, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
