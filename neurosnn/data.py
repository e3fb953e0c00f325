"""Datasets as tensors: Fashion-MNIST/MNIST (IDX), CIFAR-10/100 (python pickles), ImageNet
(class folders) and a deterministic synthetic set for tests.

Images are normalised to zero mean and unit variance per channel with the training set's
statistics, as in Lu & Sengupta (Sec. V-A). Subsets are drawn with a seeded generator so the
threshold search's random training subsets are reproducible.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

DATASETS = ("fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet", "synthetic")
DEFAULT_ROOTS = {
    "fashion-mnist": "/usr/share/datasets/fashion-mnist",
    "mnist": "/usr/share/datasets/mnist",
}
_HOW_TO_GET = {
    "fashion-mnist": "install the Debian package (as root: apt-get install dataset-fashion-mnist) "
    "or pass a folder holding the four IDX files",
    "mnist": "pass a folder holding the four MNIST IDX files "
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
        raise ValueError(f"subset size must be in 1..{n_total}, got {n}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=gen)[:n]


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
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {body.size} bytes")
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
            raise ValueError(f"{name} in {root}: {split} images and labels differ in count")
    return _from_arrays(
        name, images["train_x"], labels["train_y"], images["test_x"], labels["test_y"], 10
    )


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


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
        name: one of :data:`DATASETS`.
        root: folder holding the files; defaults to the Debian location for (Fashion-)MNIST.

    Returns:
        Both splits, normalised with the training set's per-channel statistics.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "synthetic":
        return synthetic()
    if root is None:
        if name not in DEFAULT_ROOTS:
            raise ValueError(f"dataset {name!r} needs a root folder: {_HOW_TO_GET[name]}")
        root = DEFAULT_ROOTS[name]
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
