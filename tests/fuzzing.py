"""A fuzzer over every reader of files neurosnn reads: valid files of each kind (a run record, a
saved SNN, a NIR file, a checkpoint, a search state, a latency folder's summary), mutated at
the byte level (truncated, bytes flipped, junk appended), the HDF5 level (a dataset's dtype,
shape or values changed, a size declared but not stored, members removed, linked into a cycle
or to another file) and the JSON level (a key removed, a value replaced by any JSON).

The contract each read keeps: it returns, or it raises ``neurosnn.errors.UserError`` with a
one-line message; never another exception, never a read through a link to another file (such
a file is refused), and never an allocation far beyond the file's size (traced with
tracemalloc). ``tests/test_fuzz_readers.py`` runs it briefly in the suite;
``scripts/fuzz_readers.py`` runs it for as long as it is given.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from hypothesis import strategies as st

from neurosnn.errors import UserError

ROOT_KINDS = ("record", "snn", "nir", "checkpoint", "search_state", "latency")
# the most a read may allocate (numpy, traced) beyond a fixed allowance, per byte of file
ALLOWANCE = 64 * 2**20
PER_BYTE = 64


@dataclass
class Kind:
    """A kind of file: where its valid sample lies and how neurosnn reads it."""

    name: str
    path: Path  # the valid sample
    read: Callable[[Path], Any]
    hdf5: bool = False
    json: bool = False


def _tiny_snn():
    import neurosnn as ns
    from neurosnn.io.data import synthetic
    from tests.conftest import tiny_vgg

    data = synthetic(n_train=64, n_test=16, num_classes=4, in_channels=1, input_size=8, seed=0)
    return ns.convert(tiny_vgg(), [x for x, _ in data.train.batches(64)], (1, 8, 8)), data


def samples(folder: Path) -> dict[str, Kind]:
    """A valid file of every kind in ``folder``, and its reader."""
    import neurosnn as ns
    from neurosnn.analysis.leaderboard import seed_rows
    from neurosnn.config.search import SearchConfig
    from neurosnn.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from neurosnn.io.record import RunWriter, read_spikes
    from neurosnn.networks import create_network
    from neurosnn.search.de import run_search
    from neurosnn.search.evaluate import Evaluator

    folder.mkdir(parents=True, exist_ok=True)
    snn, data = _tiny_snn()
    record = folder / "run.h5"
    with RunWriter(record, {"dataset": "synthetic"}) as writer:
        result = ns.simulate(
            snn, data.test.batches(16), 4, record_spikes=4, spike_sink=writer.write_spikes
        )
        writer.write_result(result, metadata={"dataset": "synthetic"})
    saved = ns.save_snn(folder / "a.snn.h5", snn, {"dataset": "synthetic"})
    nir = ns.write_nir(folder / "a.nir", snn)
    model = create_network("vgg5", 4, 1, 8, width=0.125)
    ckpt = Checkpoint(model.spec, model.state_dict(), "synthetic", (0.0,), (1.0,), epoch=1)
    checkpoint = save_checkpoint(folder / "checkpoint.pt", ckpt)
    cfg = SearchConfig(population=5, generations=1, images=8, timesteps=4)
    state = folder / "search_state.json"
    run_search(Evaluator(snn, data.train, cfg), state_path=state, progress=False)
    latency = folder / "latency"
    latency.mkdir()
    (latency / "s0").mkdir()
    shutil.copy(record, latency / "s0" / "all.h5")
    metrics = {"steps_to_ann_minus_1pct": 3, "spikes_per_image": 10.0}
    summary = {
        "config": {"timesteps": 4},
        "checkpoints": {
            "s0": {"depth": 5, "ann_accuracy": 0.5, "recipes": {"all": {"metrics": metrics}}}
        },
    }
    (latency / "latency.json").write_text(json.dumps(summary))

    def read_record(path: Path) -> Any:
        run = ns.read_run(path)
        spikes = [read_spikes(path, name, 0) for name, n in run.recorded.items() if n]
        return run.accuracy, run.spike_counts, [s.sum() for s in spikes]

    def resume(path: Path) -> Any:
        return run_search(
            Evaluator(snn, data.train, cfg), state_path=path, resume=True, progress=False
        )

    def board(path: Path) -> Any:
        return seed_rows(path.parent)

    return {
        "record": Kind("record", record, read_record, hdf5=True),
        "snn": Kind("snn", saved, lambda p: ns.load_snn(p)[0].thresholds, hdf5=True),
        "nir": Kind("nir", nir, lambda p: ns.read_nir(p)[0].thresholds, hdf5=True),
        "checkpoint": Kind("checkpoint", checkpoint, lambda p: load_checkpoint(p).state_dict),
        "search_state": Kind("search_state", state, resume, json=True),
        "latency": Kind("latency", latency / "latency.json", board, json=True),
    }


# --- mutations ---------------------------------------------------------------------------------


@st.composite
def json_values(draw) -> Any:
    scalars = (
        st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    )
    return draw(
        st.recursive(
            scalars,
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=6), inner, max_size=4)
            ),
            max_leaves=8,
        )
    )


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):
            out += _paths(v, (*prefix, i))
    return out


def mutate_json(text: str, draw) -> str:
    data = json.loads(text)
    where = draw(st.sampled_from(_paths(data)))
    if not where:
        return json.dumps(draw(json_values()))
    parent = data
    for key in where[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[where[-1]]
    else:
        parent[where[-1]] = draw(json_values())
    return json.dumps(data)


def _datasets(path: Path) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def _groups(path: Path) -> list[str]:
    names = ["/"]
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Group) else None)
    return names


HDF5_CHANGES = (
    "dtype",
    "shape",
    "values",
    "declared",
    "delete",
    "cycle",
    "external",
    "virtual",
    "attr",
)


def mutate_hdf5(path: Path, draw) -> str:
    """One HDF5-level change to the file at ``path``; returns what it was."""
    change = draw(st.sampled_from(HDF5_CHANGES))
    datasets, groups = _datasets(path), _groups(path)
    with h5py.File(path, "a") as f:
        if change in ("dtype", "shape", "values", "declared", "delete") and datasets:
            name = draw(st.sampled_from(datasets))
            old = f[name]
            data = old[()]
            if change == "delete":
                del f[name]
                return f"delete {name}"
            del f[name]
            if change == "dtype":
                dtype = draw(
                    st.sampled_from(["complex64", "int8", "float16", "S4", "bool", "uint64"])
                )
                try:
                    f[name] = np.asarray(data).astype(dtype)
                except (TypeError, ValueError):
                    f[name] = np.zeros(np.shape(data), dtype)
            elif change == "shape":
                shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
                f[name] = np.zeros(
                    shape, np.asarray(data).dtype if np.asarray(data).dtype.kind in "biuf" else "f4"
                )
            elif change == "values":
                kind = np.asarray(data).dtype.kind
                wide = np.float64 if kind in "fc" else np.int64 if kind in "biu" else None
                a = np.array(data, dtype=wide)
                if a.size and a.dtype.kind == "f":
                    a.flat[draw(st.integers(0, a.size - 1))] = draw(
                        st.sampled_from([np.nan, np.inf, -np.inf, 1e300])
                    )
                elif a.size and a.dtype.kind in "iu":
                    a.flat[draw(st.integers(0, a.size - 1))] = draw(
                        st.sampled_from([-1, 2**31 - 1, 0])
                    )
                f[name] = a
            else:
                shape = tuple(draw(st.lists(st.integers(1, 2**20), min_size=1, max_size=3)))
                f.create_dataset(name, shape, "f4")
            return f"{change} {name}"
        group = f[draw(st.sampled_from(groups))]
        member = draw(st.sampled_from(["loop", "x", "y"]))
        if member in group:
            del group[member]
        if change == "cycle":
            group[member] = f
            return f"cycle at {group.name}"
        if change == "external":
            group[member] = h5py.ExternalLink("/etc/hostname", "/")
            return f"external link at {group.name}"
        if change == "virtual":
            layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
            layout[:] = h5py.VirtualSource("/etc/elsewhere.h5", "data", shape=(4,))
            group.create_virtual_dataset(member, layout)
            return f"virtual dataset at {group.name}"
        names = list(group.attrs)
        if not names:
            group.attrs[member] = "x"
            return f"attr added at {group.name}"
        name = draw(st.sampled_from(names))
        value = group.attrs[name]
        if isinstance(value, str | bytes) and draw(st.booleans()):
            text = value.decode() if isinstance(value, bytes) else value
            try:
                group.attrs[name] = mutate_json(text, draw)
                return f"attr {name} JSON changed"
            except ValueError:
                pass
        group.attrs[name] = draw(st.sampled_from([np.nan, -1, 10**12, "x", np.zeros(3)]))
        return f"attr {name} replaced"


def mutate_payload(path: Path, draw) -> str:
    """One change to a checkpoint's contents, saved as torch saves it."""
    payload = torch.load(path, weights_only=True)
    change = draw(st.sampled_from(["nan", "complex", "shape", "delete", "spec", "type"]))
    name = draw(st.sampled_from(sorted(payload["state_dict"])))
    tensor = payload["state_dict"][name]
    if change == "nan" and tensor.is_floating_point() and tensor.numel():
        tensor.view(-1)[0] = float("nan")
    elif change == "complex":
        payload["state_dict"][name] = tensor.to(torch.complex64)
    elif change == "shape":
        payload["state_dict"][name] = torch.zeros(draw(st.lists(st.integers(0, 4), max_size=3)))
    elif change == "delete":
        del payload[draw(st.sampled_from(sorted(payload)))]
    elif change == "spec":
        payload["spec"]["options"]["width"] = draw(st.sampled_from([0.0, -1.0, 1e9, float("nan")]))
    else:
        payload[draw(st.sampled_from(sorted(payload)))] = draw(st.sampled_from([None, [], "x", 3]))
    torch.save(payload, path)
    return f"payload {change}"


def mutate_bytes(path: Path, draw) -> str:
    data = bytearray(path.read_bytes())
    how = draw(st.sampled_from(["truncate", "flip", "append"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    else:
        data += draw(st.binary(min_size=1, max_size=64))
    path.write_bytes(bytes(data))
    return how


def fuzz_settings(examples: int, **more: Any):
    """Hypothesis's settings for a fuzz run of ``examples`` files: no deadline (a read may be
    slow), no example database, no health check (the strategies are deliberately costly)."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        **more,
    )


def mutated(kind: Kind, folder: Path, draw) -> tuple[Path, str]:
    """A copy of ``kind``'s sample in ``folder`` with one mutation; ``(path, what)``."""
    if kind.name == "latency":
        shutil.copytree(kind.path.parent, folder / "latency")
        path = folder / "latency" / kind.path.name
    else:
        path = folder / kind.path.name
        shutil.copy(kind.path, path)
    levels = ["bytes"] + (["hdf5"] if kind.hdf5 else []) + (["json"] if kind.json else [])
    level = draw(st.sampled_from(levels + (["payload"] if kind.name == "checkpoint" else [])))
    if level == "payload":
        return path, mutate_payload(path, draw)
    if level == "hdf5":
        return path, mutate_hdf5(path, draw)
    if level == "json":
        path.write_text(mutate_json(path.read_text(), draw))
        return path, "json"
    return path, mutate_bytes(path, draw)


def check_read(kind: Kind, path: Path, what: str) -> str:
    """Read ``path`` under the contract; returns "read" or "refused", raises AssertionError on
    a breach (another exception, a read through a link, a runaway allocation)."""
    size = sum(p.stat().st_size for p in path.parent.rglob("*") if p.is_file())
    tracemalloc.start()
    try:
        value = kind.read(path)
    except UserError as err:
        message = str(err)
        assert "\n" not in message.strip(), (
            f"{kind.name} ({what}): a message of several lines: {message!r}"
        )
        return "refused"
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= ALLOWANCE + PER_BYTE * size, (
            f"{kind.name} ({what}): {peak:,} bytes allocated reading a {size:,}-byte file"
        )
    assert not what.startswith(("external", "virtual")), f"{kind.name}: read through a link: {what}"
    _all_finite(value, f"{kind.name} ({what})")
    return "read"


def _all_finite(value: Any, where: str) -> None:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            assert bool(torch.isfinite(value).all()), f"{where}: non-finite values read"
    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
        assert np.isfinite(value).all(), f"{where}: non-finite values read"
    elif isinstance(value, float):
        assert np.isfinite(value), f"{where}: a non-finite value read"
    elif isinstance(value, dict):
        for v in value.values():
            _all_finite(v, where)
    elif isinstance(value, list | tuple):
        for v in value:
            _all_finite(v, where)
