"""Fashion-MNIST loading: the real TFDS path from an offline IDX mirror, and labelled mock data."""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from autograder.qa import fashion_idx
from tfcourse import fashion_mnist as fm


@pytest.fixture(autouse=True)
def isolated_tfds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fm.TFDS_DIR_ENV, str(tmp_path / "tfds"))
    monkeypatch.delenv(fm.MIRROR_ENV, raising=False)
    monkeypatch.delenv(fm.SOURCE_ENV, raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _closed_port() -> int:
    """A loopback port nobody listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The download host is a closed loopback port: what an offline machine sees."""
    monkeypatch.setattr(fm, "DOWNLOAD_URL", f"http://127.0.0.1:{_closed_port()}/")


def test_idx_files_round_trip(tmp_path: Path) -> None:
    fashion_idx.write_idx_mirror(tmp_path, n_train=7, n_test=3, seed=1)
    images = fashion_idx.read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    labels = fashion_idx.read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (7, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (3,) and labels.max() < 10


def test_source_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline) -> None:
    monkeypatch.setenv("TFCOURSE_MODE", "fast")
    assert fm.resolve_source() == "mock"  # fast mode, no real copy anywhere
    monkeypatch.setenv("TFCOURSE_MODE", "full")
    assert fm.resolve_source() == "mock"  # full mode, offline: mock (with its banner)
    monkeypatch.setenv(fm.SOURCE_ENV, "real")
    assert fm.resolve_source() == "real"  # asked for explicitly
    monkeypatch.delenv(fm.SOURCE_ENV)
    monkeypatch.setenv(fm.MIRROR_ENV, str(tmp_path))
    monkeypatch.setenv("TFCOURSE_MODE", "fast")
    assert fm.resolve_source() == "real"  # a mirror means real data, even in fast mode
    monkeypatch.setenv(fm.SOURCE_ENV, "mock")
    assert fm.resolve_source() == "mock"
    monkeypatch.setenv(fm.SOURCE_ENV, "bogus")
    with pytest.raises(ValueError, match="bogus"):
        fm.resolve_source()


def test_full_mode_with_a_reachable_host_takes_the_real_data(monkeypatch) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setattr(fm, "DOWNLOAD_URL", f"http://127.0.0.1:{server.getsockname()[1]}/")
        monkeypatch.setenv("TFCOURSE_MODE", "full")
        assert fm.download_reachable()
        assert fm.resolve_source() == "real"


def test_download_url_is_the_one_tfds_downloads_from() -> None:
    import tensorflow_datasets as tfds

    hosts = {urllib.parse.urlsplit(u).netloc for u in tfds.builder_cls("fashion_mnist").url_infos}
    assert hosts == {urllib.parse.urlsplit(fm.DOWNLOAD_URL).netloc}


def test_unanswered_lookup_gives_up_within_the_timeout(monkeypatch) -> None:
    """A name lookup or connection that never answers costs the timeout, not minutes."""

    def never_answers(address, timeout=None):
        time.sleep(30)
        raise OSError("unreachable")

    monkeypatch.setattr(fm.socket, "create_connection", never_answers)
    started = time.monotonic()
    assert not fm.download_reachable(timeout_s=1.0)
    assert time.monotonic() - started < 3


def _import_tensorflow() -> None:
    """Import TF and TFDS before a timing: the notebook's setup cell has done it already."""
    import tensorflow  # noqa: F401
    import tensorflow_datasets  # noqa: F401


def test_real_data_offline_stops_at_once_with_one_paragraph(offline) -> None:
    _import_tensorflow()
    started = time.monotonic()
    with pytest.raises(fm.FashionMnistUnavailable) as caught:
        fm.load("real")
    assert time.monotonic() - started < 20  # TFDS's retries took minutes
    message = str(caught.value)
    assert fm.MIRROR_ENV in message and "restart the kernel" in message
    assert "\n" not in message  # one paragraph
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chain


def test_auto_in_full_mode_offline_runs_on_labelled_mock_data(
    monkeypatch: pytest.MonkeyPatch, offline, capsys
) -> None:
    monkeypatch.setenv("TFCOURSE_MODE", "full")
    _import_tensorflow()
    started = time.monotonic()
    loaded = fm.load()
    assert time.monotonic() - started < 20
    assert loaded.is_mock
    out = capsys.readouterr().out
    assert out.startswith("*** MOCK DATA") and fm.MIRROR_ENV in out and "restart the kernel" in out


def test_mock_data_is_labelled_and_shaped_like_the_real_data(capsys) -> None:
    loaded = fm.load("mock")
    assert loaded.is_mock
    assert "MOCK DATA" in capsys.readouterr().out
    image, label = next(iter(loaded.train))
    assert image.shape == (28, 28, 1) and image.dtype.name == "uint8"
    assert 0 <= int(label) < 10
    assert loaded.info.features["label"].names == fm.CLASS_NAMES


def test_mirror_missing_files_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    fashion_idx.write_idx_mirror(tmp_path, n_train=5, n_test=5)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv(fm.MIRROR_ENV, str(tmp_path))
    with pytest.raises(fm.FashionMnistUnavailable, match="t10k-labels-idx1-ubyte.gz"):
        fm.load("real")


def _image_digest(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


@pytest.mark.slow
def test_real_tfds_path_prepares_from_offline_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """tfds.load('fashion_mnist') builds the dataset from the mirror through manual_dir.

    The generated IDX files differ from the published ones, so the test registers their
    checksums in place of the published ones; everything else is TFDS's real code path.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download import checksums

    mirror = fashion_idx.write_idx_mirror(tmp_path / "mirror", seed=3)  # the builder wants 60k/10k
    builder_cls = tfds.builder_cls("fashion_mnist")
    real_infos = builder_cls.url_infos
    fake_infos = {
        url: checksums.compute_url_info(mirror / info.filename)
        for url, info in real_infos.items()
    }
    for url, info in fake_infos.items():
        info.filename = real_infos[url].filename
    monkeypatch.setattr(builder_cls, "url_infos", fake_infos)
    monkeypatch.setenv(fm.MIRROR_ENV, str(mirror))

    loaded = fm.load()  # auto: a mirror is configured, so real
    out = capsys.readouterr().out
    assert not loaded.is_mock and "MOCK" not in out
    assert "offline mirror" in loaded.origin
    train = list(loaded.train.as_numpy_iterator())
    test = list(loaded.test.as_numpy_iterator())
    assert (len(train), len(test)) == (60_000, 10_000)
    want_images = fashion_idx.read_idx(mirror / "train-images-idx3-ubyte.gz")
    want_labels = fashion_idx.read_idx(mirror / "train-labels-idx1-ubyte.gz")
    got = Counter((_image_digest(img[..., 0]), int(lbl)) for img, lbl in train)
    pairs = zip(want_images, want_labels, strict=True)
    want = Counter((_image_digest(img), int(lbl)) for img, lbl in pairs)
    assert got == want  # every example of the mirror, with its label, and nothing else
    assert fm.is_prepared()
