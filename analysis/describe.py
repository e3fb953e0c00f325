"""What ``neurosnn inspect`` says about a file or folder that is not one run record: a saved
SNN (``.snn.h5``), a NIR file, a threshold search (``search.h5`` or its folder), a checkpoint
(``.pt``) and a folder of several records, each summarised in a few lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurosnn.errors import UserError


def snn_summary(path: Path) -> str:
    """Layers, shapes, thresholds and φ of a saved SNN or a NIR file, and where it came from."""
    from neurosnn.jobs.convert import read_snn

    snn, meta, spec = read_snn(path)
    kind = "NIR file" if path.suffix == ".nir" else "saved SNN"
    spec = spec or meta.get("network") or {}
    network = spec.get("name") or spec.get("factory") or meta.get("snn", "-")
    lines = [
        f"{kind:<14}{path}",
        f"network       {network} on {meta.get('dataset', '-')}; recipe {meta.get('recipe', '-')}",
        "",
        f"{'layer':<20}{'shape':<16}{'threshold':>11}{'phi':>7}",
    ]
    theta = dict(zip(snn.if_names, snn.thresholds, strict=True))
    phi = dict(zip(snn.if_names, snn.phi, strict=True))
    for name in snn.layer_names:
        shape = "x".join(map(str, snn.layer(name).shape))
        t = f"{theta[name]:.4f}" if name in theta else "output"
        p = f"{phi[name]:.2f}" if name in phi else ""
        lines.append(f"{name:<20}{shape:<16}{t:>11}{p:>7}")
    return "\n".join(lines)


def search_summary(path: Path) -> str:
    """Generations, costs and the best percentiles and thresholds of a threshold search."""
    from neurosnn.io.record import read_search

    found = read_search(path)
    history, best, cfg = found["history"], found["best"], found["config"]
    costs = history["best_cost"]
    cfg = cfg.get("search", cfg)  # the latency job nests the search's settings
    size = {k: cfg[k] for k in ("objective", "population", "images", "timesteps") if k in cfg}
    lines = [
        f"search        {path}",
        f"settings      {', '.join(f'{k}={v}' for k, v in size.items()) or '-'}",
        f"generations   {len(costs)}; best cost {costs[0]:.4f} -> {costs[-1]:.4f}; "
        f"{float(np.sum(history['seconds'])):.1f} s",
        "",
        f"{'layer':<20}{'percentile':>11}{'threshold':>11}",
    ]
    percentiles = best.get("candidate", best.get("percentiles", []))
    thresholds = best.get("thresholds", [])
    for i, name in enumerate(found["layers"]):
        p = f"{percentiles[i]:.3f}" if i < len(percentiles) else "-"
        t = f"{thresholds[i]:.4f}" if i < len(thresholds) else "-"
        lines.append(f"{name:<20}{p:>11}{t:>11}")
    return "\n".join(lines)


def checkpoint_summary(path: Path) -> str:
    """The network, data set, epochs and test accuracy of a training checkpoint."""
    from neurosnn.io.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    spec = ckpt.spec
    name = getattr(spec, "name", "?")
    options = getattr(spec, "options", {})
    accuracy = getattr(ckpt, "test_accuracy", None)
    said = f"{accuracy:.4f}" if isinstance(accuracy, float) else "-"
    return "\n".join(
        [
            f"checkpoint    {path}",
            f"network       {name} {options} on {ckpt.dataset}",
            f"trained       {ckpt.epoch} epochs; test accuracy {said}",
        ]
    )


def folder_summary(folder: Path) -> str:
    """One line per record, saved SNN, NIR file and search in ``folder``."""
    from neurosnn.io.record import FORMAT, SEARCH_FORMAT, SNN_FORMAT, file_format, read_run

    lines = [f"folder        {folder}", ""]
    for path in sorted(folder.iterdir()):
        fmt = file_format(path) if path.is_file() else None
        if fmt == FORMAT:
            run = read_run(path)
            lines.append(
                f"run      {path.name:<32} accuracy at T={run.timesteps}: "
                f"{run.accuracy[-1]:.4f}, best {run.accuracy.max():.4f}"
            )
        elif fmt in (SNN_FORMAT, "hdf5"):
            lines.append(f"{'nir' if path.suffix == '.nir' else 'snn':<9}{path.name}")
        elif fmt == SEARCH_FORMAT or (path / "search.h5").is_file():
            lines.append(f"search   {path.name}")
        elif path.suffix == ".pt" or (path / "checkpoint.pt").is_file():
            lines.append(f"ann      {path.name}")
    if len(lines) == 2:
        raise UserError(f"{folder} holds no record, saved SNN, NIR file, search or checkpoint")
    lines += ["", "neurosnn inspect FILE says more about each"]
    return "\n".join(lines)


def describe(path: Path) -> str | None:
    """The summary of ``path`` where it is not one run record (None where it is one, or where
    nothing is there)."""
    from neurosnn.io.record import FORMAT, SEARCH_FORMAT, SNN_FORMAT, file_format, record_in

    if path.is_dir():
        kinds = (FORMAT, SNN_FORMAT, "hdf5")
        files = [p for p in path.iterdir() if p.is_file() and file_format(p) in kinds]
        if not files and (path / "search.h5").is_file():
            return search_summary(path / "search.h5")
        if len(files) <= 1 and (path / "checkpoint.pt").is_file():
            return checkpoint_summary(path / "checkpoint.pt")
        try:
            record_in(path)
            return None
        except UserError:
            return folder_summary(path)
    if not path.is_file():
        return None  # read_run says that no run file is there
    if path.suffix == ".pt":
        return checkpoint_summary(path)
    fmt = file_format(path)
    if fmt == FORMAT:
        return None
    if fmt in (SNN_FORMAT, "hdf5"):
        return snn_summary(path)
    if fmt == SEARCH_FORMAT:
        return search_summary(path)
    raise UserError(f"{path} is not a file neurosnn inspect reads (format {fmt or 'unknown'})")
