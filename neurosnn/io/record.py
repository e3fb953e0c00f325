"""HDF5 record of a simulation run; every file is opened through ``neurosnn.io.h5safe``.

Layout (readable with h5py or h5dump alone)::

    /                       attrs: format="neurosnn-run", format_version, timesteps,
                            n_images, input_shape, config (JSON text), metadata (JSON text),
                            simulation (JSON text: engine, delay, bias_onset, encoding, seed,
                            phi per IF layer, percentile_of, channelwise layers)
    /accuracy               [T] float64, accuracy at each timestep
    /correct                [T] int64
    /labels, /predictions   [N] int64 (prediction at the final step)
    /layers/<name>          group per layer, forward order in /layers attr "order";
                            attrs: shape, kind ("if" | "output"), threshold, percentile,
                            macs (dense MACs per image of the connections into the layer),
                            inputs (JSON: [source, MACs] of each connection into it)
    /spike_counts/<name>    [T] int64, spikes at step t summed over images and neurons
    /spikes/<name>          [n, T, ceil(neurons/8)] uint8, spike trains of the first n images,
                            packed 8 neurons per byte, first neuron in the highest bit
                            (numpy.unpackbits order), gzip (level 1), one chunk per image;
                            attrs: shape, neurons

Beside each record, ``X.csv`` holds its per-step figures (step, accuracy, each spiking layer's
firing rate) for pandas or a spreadsheet.

Every file is written under a temporary name unique to its writer and renamed when complete, so
an interrupted run never leaves a half-written record under the final name, and while it is
written the path is held (``neurosnn.io.output.exclusive``): a second run into it is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from neurosnn.errors import UserError
from neurosnn.io.h5safe import DAMAGED, check_size, one_line, read, readable
from neurosnn.io.output import (
    atomic,
    disk_full,
    ensure_space,
    exclusive,
    full_disk_error,
    temporary,
)
from neurosnn.io.owned import check_replaceable

if TYPE_CHECKING:  # importing simulate pulls in bindsnet, which readers of files never need
    import torch

    from neurosnn.simulation.run import SimResult

FORMAT = "neurosnn-run"
FORMAT_VERSION = 1
SEARCH_FORMAT = "neurosnn-search"
IMAGES_FORMAT = "neurosnn-images"
ARRAYS_FORMAT = "neurosnn-arrays"
SNN_FORMAT = "neurosnn-snn"


class RunWriter:
    """Context manager that streams spike trains to HDF5 and then writes the result.

    Example::

        with RunWriter("run.h5", config) as writer:
            result = simulate(snn, batches, 100, record_spikes=16, spike_sink=writer.write_spikes)
            writer.write_result(result, percentiles=snn.percentiles)
    """

    def __init__(self, path: str | Path, config: dict[str, Any]) -> None:
        self.path = Path(path)
        self.tmp = temporary(self.path)
        self.config = config
        self.file: h5py.File | None = None
        self._written = False

    def __enter__(self) -> RunWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ensure_space(self.path, 0)
        with ExitStack() as stack:
            stack.enter_context(exclusive(self.path))
            check_replaceable(self.path, FORMAT)
            check_replaceable(csv_path(self.path))
            try:
                self.file = h5py.File(self.tmp, "w")
            except OSError as err:  # h5py may leave the file it could not finish
                self.tmp.unlink(missing_ok=True)
                if disk_full(err):
                    raise full_disk_error(self.path, err) from err
                raise
            self._held = stack.pop_all()
        self.file.attrs["format"] = FORMAT
        self.file.attrs["format_version"] = FORMAT_VERSION
        self.file.attrs["config"] = json.dumps(self.config, sort_keys=True, default=str)
        return self

    def write_spikes(
        self, layer: str, first: int, packed: torch.Tensor, shape: tuple[int, ...]
    ) -> None:
        """Append packed spikes ``[T, b, bytes]`` of images ``first .. first+b-1``."""
        data = packed.numpy().transpose(1, 0, 2)  # [b, T, bytes]
        ensure_space(self.path, data.nbytes)
        group = self.file.require_group("spikes")
        if layer not in group:
            ds = group.create_dataset(
                layer,
                shape=(0, *data.shape[1:]),
                maxshape=(None, *data.shape[1:]),
                dtype=np.uint8,
                chunks=(1, *data.shape[1:]),
                compression="gzip",
                compression_opts=1,
            )
            ds.attrs["shape"] = shape
            ds.attrs["neurons"] = int(np.prod(shape))
        ds = group[layer]
        if ds.shape[0] != first:
            raise ValueError(
                f"spikes of {layer} must arrive in order: have {ds.shape[0]} "
                f"images, got a block starting at {first}"
            )
        ds.resize(first + data.shape[0], axis=0)
        ds[first:] = data

    def write_result(
        self,
        result: SimResult,
        percentiles: list[float] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        f = self.file
        # the curves and counts, with room for the attributes
        arrays = [result.accuracy, result.correct, result.labels, result.predictions]
        arrays += list(result.spike_counts.values())
        ensure_space(self.path, sum(a.numel() * 8 for a in arrays) + 2**20)
        f.attrs["timesteps"] = result.timesteps
        f.attrs["n_images"] = result.n_images
        f.attrs["metadata"] = json.dumps(metadata or {}, sort_keys=True, default=str)
        f.attrs["simulation"] = json.dumps(result.config, sort_keys=True)
        f.attrs["wall_seconds"] = result.wall_seconds
        f.attrs["input_shape"] = result.input_shape
        f["accuracy"] = result.accuracy.numpy()
        f["correct"] = result.correct.numpy()
        f["labels"] = result.labels.numpy()
        f["predictions"] = result.predictions.numpy()
        layers = f.create_group("layers")
        layers.attrs["order"] = json.dumps(result.layer_names)
        if_names = [n for n in result.layer_names if n in result.thresholds]
        for name in result.layer_names:
            g = layers.create_group(name)
            g.attrs["shape"] = result.layer_shapes[name]
            g.attrs["kind"] = "if" if name in result.thresholds else "output"
            if name in result.inputs:
                g.attrs["macs"] = sum(m for _, m in result.inputs[name])
                g.attrs["inputs"] = json.dumps(result.inputs[name])
            if name in result.thresholds:
                g.attrs["threshold"] = result.thresholds[name]
                if percentiles is not None:
                    g.attrs["percentile"] = percentiles[if_names.index(name)]
        counts = f.create_group("spike_counts")
        for name, c in result.spike_counts.items():
            counts[name] = c.numpy()
        self._csv = per_step_csv(result)
        self._written = True

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.file.close()
            if exc_type is None and self._written:
                os.replace(self.tmp, self.path)
                with atomic(csv_path(self.path)) as tmp:
                    tmp.write_text(self._csv)
        except OSError as err:
            if disk_full(err):
                raise full_disk_error(self.path, err) from err
            raise
        finally:
            self.tmp.unlink(missing_ok=True)
            self._held.close()


def csv_path(path: str | Path) -> Path:
    """Where a run record's per-step figures go as CSV: ``X.h5`` → ``X.csv``."""
    return Path(path).with_suffix(".csv")


def per_step_csv(result: SimResult) -> str:
    """The run's per-step figures as CSV (readable with ``pandas.read_csv``): step, accuracy,
    and each spiking layer's firing rate (spikes per neuron per image at that step)."""
    layers = list(result.spike_counts)
    rows = ["step,accuracy," + ",".join(f"rate:{n}" for n in layers)]
    neurons = {n: int(np.prod(result.layer_shapes[n])) * max(result.n_images, 1) for n in layers}
    accuracy = result.accuracy.tolist()
    counts = {n: result.spike_counts[n].tolist() for n in layers}
    for t in range(result.timesteps):
        rates = ",".join(f"{counts[n][t] / neurons[n]:.6g}" for n in layers)
        rows.append(f"{t + 1},{accuracy[t]:.6g}," + rates)
    return "\n".join(rows) + "\n"


def write_run(
    path: str | Path,
    result: SimResult,
    config: dict[str, Any],
    percentiles: list[float] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a finished result without spike trains."""
    with RunWriter(path, config) as writer:
        writer.write_result(result, percentiles, metadata)
    return Path(path)


@dataclass
class LayerRecord:
    name: str
    shape: tuple[int, ...]
    kind: str
    threshold: float | None
    percentile: float | None
    macs: int | None = None  # dense MACs per image of the connections into the layer
    inputs: list[tuple[str, int]] | None = None  # (source, MACs) of each connection into it


@dataclass
class RunRecord:
    """Everything in a run file except the spike trains (read those with ``read_spikes``)."""

    path: Path
    config: dict[str, Any]
    simulation: dict[str, Any]
    metadata: dict[str, Any]
    timesteps: int
    n_images: int
    wall_seconds: float
    accuracy: np.ndarray  # [T]
    labels: np.ndarray
    predictions: np.ndarray
    layers: list[LayerRecord]
    spike_counts: dict[str, np.ndarray]  # per IF layer, [T]
    recorded: dict[str, int]  # layer -> number of images with spike trains
    input_shape: tuple[int, ...] = ()

    @property
    def layer_names(self) -> list[str]:
        return [l.name for l in self.layers]

    @property
    def layer_shapes(self) -> dict[str, tuple[int, ...]]:
        return {l.name: l.shape for l in self.layers}

    @property
    def macs(self) -> dict[str, int]:
        return {l.name: l.macs for l in self.layers if l.macs is not None}

    @property
    def inputs(self) -> dict[str, list[tuple[str, int]]]:
        """Per layer, ``(source, MACs)`` of each connection into it (a record written before
        graphs is a chain)."""
        if all(l.inputs is not None for l in self.layers):
            return {l.name: l.inputs for l in self.layers}
        from neurosnn.snn.macs import chain_inputs

        return chain_inputs(self.layer_names, self.macs)

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per timestep of each spiking layer."""
        return {
            l.name: float(self.spike_counts[l.name].sum())
            / (int(np.prod(l.shape)) * self.timesteps * max(self.n_images, 1))
            for l in self.layers
            if l.kind == "if"
        }


@contextmanager
def _writing(path: str | Path, fmt: str) -> Iterator[h5py.File]:
    """A new HDF5 file of format ``fmt``, written under a temporary name and renamed to ``path``
    only when the block completes (an interrupted write leaves nothing under the final name)."""
    with atomic(path, fmt) as tmp, h5py.File(tmp, "w") as f:  # atomic removes tmp on any error
        f.attrs["format"] = fmt
        f.attrs["format_version"] = FORMAT_VERSION
        yield f


@contextmanager
def _open(path: str | Path, fmt: str = FORMAT) -> Iterator[h5py.File]:
    """Open a neurosnn HDF5 file of format ``fmt`` for reading, with errors naming the path (a
    dataset or attribute missing from it included)."""
    kind = {
        FORMAT: "run",
        SEARCH_FORMAT: "search",
        IMAGES_FORMAT: "image set",
        ARRAYS_FORMAT: "arrays",
        SNN_FORMAT: "SNN",
    }[fmt]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {kind} file at {path}")
    with readable(path) as f:
        try:
            if f.attrs.get("format") != fmt:
                raise UserError(f"{path} is not a neurosnn {kind} file (format attribute missing)")
            yield f
        except UserError:
            raise
        except DAMAGED as err:  # HDF5 reports a damaged file as any of these
            raise UserError(
                f"{path} is a damaged or incomplete {kind} file: {one_line(err)}"
            ) from err


def file_format(path: str | Path) -> str | None:
    """The ``format`` attribute of a neurosnn HDF5 file, ``"hdf5"`` for another HDF5 file
    (a NIR file), None for anything that is not HDF5."""
    if not h5py.is_hdf5(path):
        return None
    with h5py.File(path, "r") as f:
        found = f.attrs.get("format")
    return str(found) if found is not None else "hdf5"


def record_in(path: str | Path) -> Path:
    """``path`` if it is a file; in a folder, its one run record (``convert.h5`` where there
    are several, as ``neurosnn convert --out`` writes it)."""
    path = Path(path)
    if not path.is_dir():
        return path
    if (path / "convert.h5").is_file():
        return path / "convert.h5"
    found = [p for p in sorted(path.glob("*.h5")) if file_format(p) == FORMAT]
    if len(found) != 1:
        what = "no run record" if not found else f"{len(found)} run records"
        raise UserError(f"{path} holds {what}; give the record's file")
    return found[0]


def read_run(path: str | Path) -> RunRecord:
    """A run record's figures, without its spike trains (``read_spikes`` reads those).

    Args:
        path: a run record (``RunWriter``'s file: ``neurosnn convert``'s ``convert.h5``, a
            latency recipe's ``RECIPE.h5``, a search's ``baseline.h5`` …).

    Returns:
        Its accuracy per step, spike counts per layer and step, layers, configuration and
        metadata.
    """
    with _open(path) as f:
        order = json.loads(f["layers"].attrs["order"])
        layers = []
        for name in order:
            a = f["layers"][name].attrs
            layers.append(
                LayerRecord(
                    name,
                    tuple(int(v) for v in a["shape"]),
                    str(a["kind"]),
                    float(a["threshold"]) if "threshold" in a else None,
                    float(a["percentile"]) if "percentile" in a else None,
                    int(a["macs"]) if "macs" in a else None,
                    [(s, int(m)) for s, m in json.loads(a["inputs"])] if "inputs" in a else None,
                )
            )
        spikes = f.get("spikes")
        return RunRecord(
            path=Path(path),
            config=json.loads(f.attrs["config"]),
            simulation=json.loads(f.attrs["simulation"]),
            metadata=json.loads(f.attrs["metadata"]),
            timesteps=int(f.attrs["timesteps"]),
            n_images=int(f.attrs["n_images"]),
            wall_seconds=float(f.attrs["wall_seconds"]),
            accuracy=read(f["accuracy"]),
            labels=read(f["labels"]),
            predictions=read(f["predictions"]),
            layers=layers,
            spike_counts={k: read(v) for k, v in f["spike_counts"].items()},
            recorded={k: v.shape[0] for k, v in spikes.items()} if spikes is not None else {},
            input_shape=tuple(int(v) for v in f.attrs.get("input_shape", ())),
        )


def read_spikes(
    path: str | Path,
    layer: str,
    samples: slice | int = slice(None),
    times: slice | int = slice(None),
) -> np.ndarray:
    """Dense boolean spike trains ``[n_samples, n_times, *layer_shape]`` of one layer.

    Args:
        path: a run record (``RunWriter``'s file, e.g. ``neurosnn convert``'s ``convert.h5``).
        layer: the layer's name (``read_run(path).layers``).
        samples: the recorded images to read (an index or a slice).
        times: the timesteps to read (an index or a slice).

    Returns:
        The spikes, unpacked from the file's bit-packed trains."""
    with _open(path) as f:
        if "spikes" not in f or layer not in f["spikes"]:
            have = list(f["spikes"]) if "spikes" in f else []
            raise UserError(f"{path} has no spike trains for layer {layer!r}; recorded: {have}")
        ds = f["spikes"][layer]
        neurons = int(ds.attrs["neurons"])
        shape = tuple(int(v) for v in ds.attrs["shape"])
        check_size(ds)
        if int(np.prod(shape)) != neurons or ds.shape[-1] != -(-neurons // 8):
            raise UserError(
                f"{path}: {ds.name} holds {ds.shape[-1]} bytes per step for {neurons} neurons "
                f"of shape {shape}: the file is damaged or crafted"
            )
        samples = slice(samples, samples + 1) if isinstance(samples, int) else samples
        times = slice(times, times + 1) if isinstance(times, int) else times
        packed = ds[samples, times, :]
    bits = np.unpackbits(packed, axis=-1, count=neurons).astype(bool)
    return bits.reshape(*packed.shape[:2], *shape)


def write_search(
    path: str | Path,
    *,
    config: dict[str, Any],
    layers: list[str],
    history: list[dict[str, Any]],
    best: dict[str, list[float]],
    metrics: dict[str, Any],
    significance: dict[str, list[float]] | None = None,
) -> Path:
    """Write a threshold search: per-generation history, the best thresholds and metrics.

    Layout: root attrs ``format="neurosnn-search"``, ``config`` and ``metrics`` (JSON),
    ``layers`` (JSON list); ``/history/{best_cost,mean_cost,evaluations,seconds}`` ``[G]``,
    ``/history/population`` ``[G, P, n]``, ``/history/costs`` ``[G, P]``;
    ``/best/<key>`` ``[n]`` (e.g. percentiles, thresholds, baseline_thresholds);
    ``/significance/<key>`` ``[n]`` (components, percent_change).
    """
    with _writing(path, SEARCH_FORMAT) as f:
        f.attrs["config"] = json.dumps(config, sort_keys=True, default=str)
        f.attrs["metrics"] = json.dumps(metrics, sort_keys=True, default=str)
        f.attrs["layers"] = json.dumps(layers)
        h = f.create_group("history")
        for key in ("best_cost", "mean_cost", "evaluations", "seconds"):
            h[key] = np.asarray([g[key] for g in history])
        h["population"] = np.asarray([g["population"] for g in history])
        h["costs"] = np.asarray([g["costs"] for g in history])
        for group, values in (("best", best), ("significance", significance or {})):
            g = f.create_group(group)
            for key, v in values.items():
                g[key] = np.asarray(v, dtype=np.float64)
    return Path(path)


def read_search(path: str | Path) -> dict[str, Any]:
    """Everything ``write_search`` wrote, as plain Python and numpy values."""
    with _open(path, SEARCH_FORMAT) as f:
        return {
            "config": json.loads(f.attrs["config"]),
            "metrics": json.loads(f.attrs["metrics"]),
            "layers": json.loads(f.attrs["layers"]),
            "history": {k: read(v) for k, v in f["history"].items()},
            "best": {k: read(v) for k, v in f["best"].items()},
            "significance": {k: read(v) for k, v in f["significance"].items()},
        }


def write_images(
    path: str | Path, images: np.ndarray, labels: np.ndarray, metadata: dict[str, Any]
) -> Path:
    """Write an image set (e.g. adversarial images and where they came from).

    Layout: root attrs ``format="neurosnn-images"``, ``metadata`` (JSON); ``/images``
    ``[N, C, H, W]`` (uint8 grey levels or float32 pixels in [0, 1], gzip), ``/labels`` ``[N]``.
    """
    with _writing(path, IMAGES_FORMAT) as f:
        f.attrs["metadata"] = json.dumps(metadata, sort_keys=True, default=str)
        f.create_dataset("images", data=np.asarray(images), compression="gzip", compression_opts=1)
        f["labels"] = np.asarray(labels, dtype=np.int64)
    return Path(path)


def read_images(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(images, labels, metadata)`` of a file written by ``write_images``."""
    with _open(path, IMAGES_FORMAT) as f:
        return read(f["images"]), read(f["labels"]), json.loads(f.attrs["metadata"])


def write_arrays(
    path: str | Path,
    arrays: dict[str, dict[str, np.ndarray]],
    metadata: dict[str, Any],
    fmt: str = ARRAYS_FORMAT,
) -> Path:
    """Write named groups of arrays (e.g. the accuracy curve and spike counts of each trained
    variant of an experiment whose networks are not BindsNET runs; a saved SNN with
    ``fmt=SNN_FORMAT``, ``neurosnn.io.snnfile``).

    Layout: root attrs ``format`` (``"neurosnn-arrays"``), ``metadata`` (JSON);
    ``/<group>/<name>``.
    """
    nbytes = sum(np.asarray(v).nbytes for values in arrays.values() for v in values.values())
    ensure_space(path, nbytes + 2**20)
    with _writing(path, fmt) as f:
        f.attrs["metadata"] = json.dumps(metadata, sort_keys=True, default=str)
        for group, values in arrays.items():
            g = f.create_group(group)
            for name, v in values.items():
                g[name] = np.asarray(v)
    return Path(path)


def read_arrays(
    path: str | Path, fmt: str = ARRAYS_FORMAT
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """``(arrays, metadata)`` of a file written by ``write_arrays``."""
    with _open(path, fmt) as f:
        arrays = {}
        for g, group in f.items():
            if not isinstance(group, h5py.Group):
                raise UserError(f"{path}: /{g} is not a group of arrays")
            arrays[g] = {}
            for k, v in group.items():
                if not isinstance(v, h5py.Dataset):
                    raise UserError(f"{path}: /{g}/{k} is not an array")
                arrays[g][k] = read(v)
        try:
            return arrays, json.loads(f.attrs["metadata"])
        except (TypeError, ValueError) as err:
            raise UserError(f"{path}: its metadata is not JSON ({err})") from err
