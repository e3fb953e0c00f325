"""A latency sweep on a Ray cluster: each checkpoint × recipe is a Ray task.

The driver puts each checkpoint's network, images and metadata into Ray's object store once;
every task runs ``measure_latency`` for one recipe in a folder of its own node and returns the
files it wrote, which the driver writes into ``OUT/<checkpoint>/`` as a local run would. A unit
whose run record and SNN are already there is not sent again, so a driver interrupted (or a
cluster lost) resumes where it stopped, and Ray runs a task again on another node when its
node dies (``max_retries``). The driver's own pass afterwards (``measure_latency`` over the
folder) reads every finished run back and makes the tables, as the local job's resume does: the
figures are a local run's.

A task asks for ``cpus_per_task`` CPUs (its torch threads) and ``gpus_per_task`` GPUs; one that
Ray gives a GPU runs on it (CUDA), any other on the CPU.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from neurosnn.config.cluster import Cluster
from neurosnn.config.latency import LatencyConfig
from neurosnn.config.recipe import Recipe
from neurosnn.errors import UserError

log = logging.getLogger(__name__)
RETRIES = 3  # a task whose node dies runs again, this many times


@dataclasses.dataclass
class Network:
    """One checkpoint of the sweep: its folder under OUT and what its tasks read."""

    name: str
    folder: Path
    model: Any
    data: Any
    meta: dict


def finished(folder: Path, recipe: str) -> bool:
    """Whether the unit's run record and SNN are in ``folder`` (the driver's pass checks that
    they are this run's and makes any that are not again)."""
    name = Recipe.parse(recipe).name
    return (folder / f"{name}.h5").is_file() and (folder / f"{name}.snn.h5").is_file()


def run_unit(payload, cfg: LatencyConfig, recipe: str, device: str, threads: int) -> dict:
    """One unit, in a Ray worker: ``measure_latency`` for ``recipe`` in a temporary folder;
    returns the files written (path under the folder → bytes) and where it ran."""
    import ray
    import torch

    from neurosnn.jobs.latency import measure_latency
    from neurosnn.simulation.engine.ifscan import set_threads

    set_threads(threads)
    model, data, meta = payload
    gpus = [str(g) for g in ray.get_gpu_ids()]
    if gpus and torch.cuda.is_available():
        device = "cuda"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        one = dataclasses.replace(cfg, recipes=(recipe,))
        measure_latency(model, data, one, tmp, meta, device=device, progress=False)
        files = {
            str(p.relative_to(tmp)): p.read_bytes()
            for p in sorted(Path(tmp).rglob("*"))
            if p.is_file() and p.name != "settings.json"
        }
    return {
        "files": files,
        "seconds": time.perf_counter() - start,
        "node": ray.util.get_node_ip_address(),
        "device": device,
        "gpus": gpus,
    }


def sweep(
    networks: Iterable[tuple[Network, list[str]]], cfg: LatencyConfig, cluster: Cluster, device: str
) -> list[dict]:
    """Run every unfinished unit (each network with its recipes, loaded one at a time and
    released once in the object store) on the cluster, writing each one's files as it
    finishes; returns what each task reported."""
    import ray

    from neurosnn.jobs.latency import same_settings
    from neurosnn.search.evaluate import connect_ray

    address = None if cluster.ray_address == "local" else cluster.ray_address
    connect_ray(address)
    task = ray.remote(
        num_cpus=cluster.cpus_per_task, num_gpus=cluster.gpus_per_task, max_retries=RETRIES
    )(run_unit)
    threads = max(1, int(cluster.cpus_per_task))
    units: dict[Any, tuple[str, Path, str]] = {}
    for net, recipes in networks:
        net.folder.mkdir(parents=True, exist_ok=True)
        same_settings(net.folder, cfg)  # a folder of other settings: refused before any work
        todo = [r for r in recipes if not finished(net.folder, r)]
        for recipe in recipes:
            if recipe not in todo:
                log.info("%s / %s: finished in %s, not sent again", net.name, recipe, net.folder)
        if todo:
            payload = ray.put((net.model, net.data, net.meta))  # once, shared by its tasks
            for recipe in todo:
                ref = task.remote(payload, cfg, recipe, device, threads)
                units[ref] = (net.name, net.folder, recipe)
    log.info("ray: %d units on %s", len(units), ray.cluster_resources())
    try:
        return _collect(units)
    finally:
        ray.shutdown()  # the driver's own pass needs no cluster


def _collect(units: dict[Any, tuple[str, Path, str]]) -> list[dict]:
    """Each unit's files written into its folder as the unit finishes."""
    import ray

    from neurosnn.io.output import atomic

    reports, pending = [], list(units)
    while pending:
        (ref,), pending = ray.wait(pending, num_returns=1)
        name, folder, recipe = units[ref]
        try:
            report = ray.get(ref)
        except ray.exceptions.RayError as err:
            said = str(err).strip().splitlines()[-1][:300]
            raise UserError(
                f"{name} / {recipe}: the Ray task failed after {RETRIES} retries ({said}); "
                "the finished units are in --out and a rerun sends only the others"
            ) from err
        for relative, content in report.pop("files").items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic(path) as tmp:
                tmp.write_bytes(content)
        reports.append({"checkpoint": name, "recipe": recipe, **report})
        log.info(
            "ray unit %d/%d: %s / %s in %.1f s on %s (%s%s)",
            len(reports),
            len(units),
            name,
            recipe,
            report["seconds"],
            report["node"],
            report["device"],
            f", GPU {','.join(report['gpus'])}" if report["gpus"] else "",
        )
    return reports
