"""Scoring the search's candidates: a candidate's thresholds (and φ) on E training images, then
its cost; serially, in a process pool, on Ray, or a whole generation as one grouped simulation
with per-sample thresholds (``vectorised_map``). All four give the same costs: a candidate's
curve does not depend on what shares its batches."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from neurosnn.config.search import Parameterisation, SearchConfig
from neurosnn.errors import UserError
from neurosnn.io.data import Split
from neurosnn.search.cost import CostFn, objective
from neurosnn.simulation.engine.ifscan import set_threads
from neurosnn.simulation.run import simulate_groups
from neurosnn.simulation.tf32 import Switches, set_tf32, tf32_switches
from neurosnn.snn.network import ConvertedSNN

MapFn = Callable[[Callable[[np.ndarray], float], Iterable[np.ndarray]], Iterable[float]]


def apply_candidate(
    snn: ConvertedSNN,
    x: np.ndarray,
    parameterisation: Parameterisation,
    base_thresholds: list[float],
    phi: float | None = None,
) -> None:
    """Set the SNN's thresholds (and φ) from a candidate vector: its first values are the
    thresholds; where it holds twice as many values as layers, the rest are φ, else ``phi``
    (if given) is every layer's."""
    n = len(snn.if_names)
    x = np.asarray(x, dtype=np.float64)
    if parameterisation == "percentile":
        snn.set_percentiles([float(v) for v in x[:n]])
    else:
        snn.set_thresholds(candidate_thresholds(snn, x[:n], parameterisation, base_thresholds))
    if len(x) == 2 * n:
        snn.set_phi([float(v) for v in x[n:]])
    elif phi is not None:
        snn.set_phi(phi)


def candidate_seed(x: np.ndarray, seed: int) -> int:
    """Seed of the training subset a candidate is scored on: a function of its values."""
    return zlib.crc32(np.ascontiguousarray(x, dtype=np.float64).tobytes()) ^ (seed & 0xFFFFFFFF)


def candidate_thresholds(
    snn: ConvertedSNN,
    x: np.ndarray,
    parameterisation: Parameterisation,
    base_thresholds: list[float],
) -> list[float]:
    """Threshold values a candidate's (first) values stand for (the SNN is not changed)."""
    x = np.asarray(x, dtype=np.float64)[: len(snn.if_names)]
    if parameterisation == "percentile":
        return snn.percentile_thresholds([float(p) for p in x])
    return [b * float(s) for b, s in zip(base_thresholds, x, strict=True)]


def grouped_batches(
    splits: Sequence[Split], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(images, labels, group)`` batches of ``batch_size`` over the splits in order; a batch
    may span several splits (group k: the images of ``splits[k]``)."""
    pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    size = 0
    for k, split in enumerate(splits):
        for x, y in split.batches(batch_size):
            pending.append((x, y, torch.full((len(y),), k, dtype=torch.int64)))
            size += len(y)
            while size >= batch_size:
                xs, ys, gs = (torch.cat(parts) for parts in zip(*pending, strict=True))
                yield xs[:batch_size], ys[:batch_size], gs[:batch_size]
                pending = [(xs[batch_size:], ys[batch_size:], gs[batch_size:])]
                size -= batch_size
    if size:
        yield tuple(torch.cat(parts) for parts in zip(*pending, strict=True))


def search_images(train: Split, cfg: SearchConfig) -> Split | None:
    """The fixed mini-dataset S of ``subset="fixed"`` (None when every candidate draws its own):
    E images of ``train`` drawn once with the search's seed (Algorithm 1, before the
    generations)."""
    if cfg.subset != "fixed":
        return None
    return train.random_subset(min(cfg.images, len(train)), cfg.seed)


class Evaluator:
    """Scores candidates: each candidate's thresholds (and φ) on E training images — the fixed
    mini-dataset S, or a subset drawn for the candidate — then the cost. Any number of
    candidates run as one grouped simulation (``neurosnn.simulation.run.simulate_groups``); the
    result for a candidate does not depend on which others share its batches.

    Args:
        snn: the converted SNN (converted with ``cfg.percentile_of`` and ``cfg.channelwise``).
        train: the split the images are drawn from.
        cfg: the search's configuration.
        cost: the cost (default: ``neurosnn.search.cost.objective(cfg, ann_accuracy)``).
        ann_accuracy: the ANN's accuracy on the search images (the target of
            ``objective="steps-to-target"``).
        base_thresholds: the thresholds a ``scale`` candidate multiplies (default: each
            layer's ``initial_percentile``; e.g. the trained λ of a QCFS network).
    """

    def __init__(
        self,
        snn: ConvertedSNN,
        train: Split,
        cfg: SearchConfig,
        cost: CostFn | None = None,
        ann_accuracy: float | None = None,
        base_thresholds: Sequence[float] | None = None,
    ) -> None:
        if snn.percentile_of != cfg.percentile_of:
            raise ValueError(
                f"percentile_of: the SNN takes percentiles over {snn.percentile_of!r} outputs, "
                f"the search config over {cfg.percentile_of!r}"
            )
        if bool(snn.channel_scales) != cfg.channelwise:
            raise ValueError(
                f"channelwise: the SNN has "
                f"{'channel-wise' if snn.channel_scales else 'layer-wise'} thresholds, the "
                f"search config asks for channelwise={cfg.channelwise}"
            )
        self.snn, self.train, self.cfg = snn, train, cfg
        self.progress = False  # a generation's own progress (run_search sets it)
        self.cost = cost if cost is not None else objective(cfg, ann_accuracy)
        if base_thresholds is not None and cfg.parameterisation != "scale":
            raise ValueError("base_thresholds: only a 'scale' search multiplies given thresholds")
        self.base_thresholds = (
            [float(t) for t in base_thresholds]
            if base_thresholds is not None
            else snn.percentile_thresholds(cfg.initial_percentile)
        )
        self.n_images = min(cfg.images, len(train))
        self.fixed = search_images(train, cfg)

    def images_for(self, x: np.ndarray) -> Split:
        """The images candidate ``x`` is scored on."""
        if self.fixed is not None:
            return self.fixed
        return self.train.random_subset(self.n_images, candidate_seed(x, self.cfg.seed))

    def phi_of(self, x: np.ndarray) -> list[float]:
        """Each layer's φ in candidate ``x``."""
        n = len(self.snn.if_names)
        return [float(v) for v in x[n:]] if self.cfg.search_phi else [self.cfg.phi] * n

    def curves(
        self, candidates: Sequence[np.ndarray]
    ) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """``(accuracy [T], spike counts {layer: [T]})`` of each candidate; with
        ``readout_delays`` the accuracy read after the k of least cost (ties: the smaller k)."""
        cfg = self.cfg
        thresholds = torch.tensor(
            [
                candidate_thresholds(self.snn, x, cfg.parameterisation, self.base_thresholds)
                for x in candidates
            ]
        )
        r = simulate_groups(
            self.snn,
            grouped_batches([self.images_for(x) for x in candidates], cfg.batch_size),
            thresholds,
            cfg.timesteps,
            phi=torch.tensor([self.phi_of(x) for x in candidates]),
            delay=cfg.delay,
            bias_onset=cfg.bias_onset,
            progress=self.progress,
            readouts=range(cfg.readout_delays + 1),
            presim=cfg.presim,
        )
        accuracy = r.accuracy_by_readout.numpy()  # [K, G, T]
        out = []
        for g in range(len(candidates)):
            counts = {name: c[g].numpy() for name, c in r.spike_counts.items()}
            costs = [float(self.cost(curve[g], counts)) for curve in accuracy]
            out.append((accuracy[int(np.argmin(costs)), g], counts))
        return out

    def curve(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.curves([np.asarray(x, dtype=np.float64)])[0]

    def score(self, candidates: Sequence[np.ndarray]) -> list[float]:
        """Costs of all candidates from one grouped simulation."""
        xs = [np.asarray(x, dtype=np.float64) for x in candidates]
        return [float(self.cost(*curve)) for curve in self.curves(xs)]

    def __call__(self, x: np.ndarray) -> float:
        return self.score([x])[0]

    def apply(self, x: np.ndarray) -> None:
        """Set the SNN to candidate ``x`` (thresholds and φ)."""
        x = np.asarray(x, dtype=np.float64)
        apply_candidate(self.snn, x, self.cfg.parameterisation, self.base_thresholds)
        self.snn.set_phi(self.phi_of(x))


def cost_noise(
    evaluator: Evaluator,
    candidates: Sequence[np.ndarray],
    draws: int,
    on_draw: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """``[draws, K]`` cost of every candidate on each of ``draws`` random training subsets of
    E images (subset r drawn with seed ``cfg.seed + r``; all candidates share it);
    ``on_draw(r, costs)`` after each (the evaluator's ``progress`` shows each draw's batches).

    Across a row the candidates are compared on the same images, as the fixed S compares
    them; down a column one candidate's cost varies with its images, the noise of a
    per-candidate draw."""
    cfg = evaluator.cfg
    costs = np.empty((draws, len(candidates)))
    for r in range(draws):
        subset = evaluator.train.random_subset(evaluator.n_images, cfg.seed + r)
        # S = every image of the draw (in another order, which no cost depends on)
        shared = Evaluator(
            evaluator.snn,
            subset,
            dataclasses.replace(cfg, subset="fixed"),
            cost=evaluator.cost,
            base_thresholds=evaluator.base_thresholds if cfg.parameterisation == "scale" else None,
        )
        shared.progress = evaluator.progress
        costs[r] = shared.score([np.asarray(x, dtype=np.float64) for x in candidates])
        if on_draw is not None:
            on_draw(r, costs[r])
    return costs


def vectorised_map(evaluator: Evaluator) -> MapFn:
    """A map for SciPy that scores a whole generation as one grouped simulation on one device
    (P candidates × E images in shared batches)."""

    def map_fn(func, iterable):
        return evaluator.score(list(iterable))

    return map_fn


# --- parallel evaluation: each worker process holds one Evaluator, sent once ----------------
_WORKER: Evaluator | None = None


def _init_worker(evaluator: Evaluator, threads: int, tf32: Switches) -> None:
    global _WORKER
    set_threads(threads)
    set_tf32(tf32)  # the starting process's switches, not PyTorch's defaults
    evaluator.progress = False  # no bars from the workers
    _WORKER = evaluator


def _evaluate_in_worker(x: np.ndarray) -> float:
    return _WORKER(x)


class _PoolMap:
    """Map-like callable for SciPy that scores candidates in a pool of worker processes."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def __call__(self, func, iterable):
        return self.pool.map(_evaluate_in_worker, list(iterable))


def process_pool_map(evaluator: Evaluator, workers: int, threads: int | None = None):
    """A multiprocessing pool (spawned processes) whose workers each hold ``evaluator``.

    ``threads`` is each worker's torch thread count (default: this process's share). CPU
    convolution kernels may round differently in another process (thread count, memory
    alignment), so a spike at an exact threshold tie can flip and a candidate's cost can
    differ slightly from a serial run's; the search is not sensitive to that.
    """
    import multiprocessing as mp

    threads = threads or max(1, torch.get_num_threads() // workers)
    pool = mp.get_context("spawn").Pool(
        workers, _init_worker, (evaluator, threads, tf32_switches())
    )
    return _PoolMap(pool), pool


def _host_port(address: str) -> tuple[str, int]:
    """``(host, port)`` of a Ray address: ``host:port`` or ``ray://host:port``."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UserError(f"ray address {address!r}: expected HOST:PORT (e.g. 10.0.0.1:6379)")
    return host.strip("[]"), int(port)


def check_listening(address: str, seconds: float = 5.0) -> None:
    """Raise ``UserError`` at once when nothing accepts a connection at the Ray ``address``
    (Ray itself would retry for minutes)."""
    import socket

    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except OSError as err:
        raise UserError(
            f"ray address {address}: nothing answers there within {seconds:g} s "
            f"({err.strerror or err}); start the cluster (ray start --head) or check the address"
        ) from err


def ray_error(address: str | None, err: BaseException) -> UserError:
    """The one line for a Ray cluster that would not take the connection."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    where = f"ray address {address}" if address else "the local Ray cluster"
    if any(word in str(err).lower() for word in ("auth", "token", "unauthenticated")):
        return UserError(
            f"{where}: the cluster asks for token authentication; set RAY_AUTH_MODE=token "
            f"(and the cluster's token, RAY_AUTH_TOKEN) in this shell and run again ({text})"
        )
    return UserError(f"{where}: Ray could not connect: {text}")


def connect_ray(address: str | None, cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` (None: start one of ``cpus`` CPUs on this machine)
    unless already joined; a cluster that is not there or refuses is one line."""
    import ray

    if ray.is_initialized():
        return
    if address and address != "auto":
        check_listening(address)
    try:
        ray.init(
            address=address,
            num_cpus=None if address else cpus,
            include_dashboard=False,
            log_to_driver=False,
        )
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as err:
        raise ray_error(address, err) from err


class _Scorer:
    """A Ray actor holding one Evaluator (sent once through the object store): scores a chunk
    of a generation as one grouped simulation, on the GPU Ray gives it if any."""

    def __init__(self, evaluator: Evaluator, threads: int, tf32: Switches) -> None:
        import ray

        _init_worker(evaluator, threads, tf32)
        if ray.get_gpu_ids() and torch.cuda.is_available():
            evaluator.snn.to("cuda")
        self.evaluator = evaluator

    def score(self, candidates: list[np.ndarray]) -> list[float]:
        return self.evaluator.score(candidates)


class _RayMap:
    """Map-like callable for SciPy that splits each generation into one contiguous chunk per
    actor; each chunk is one grouped simulation (a candidate's cost does not depend on the
    others in its batches, so the costs are the vectorised map's)."""

    def __init__(self, actors: list) -> None:
        self.actors = actors

    def __call__(self, func, iterable):
        import ray

        candidates = [np.asarray(x, dtype=np.float64) for x in iterable]
        chunks = np.array_split(np.arange(len(candidates)), len(self.actors))
        futures = [
            actor.score.remote([candidates[i] for i in chunk])
            for actor, chunk in zip(self.actors, chunks, strict=True)
            if len(chunk)
        ]
        return [cost for part in ray.get(futures) for cost in part]

    def terminate(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)


def ray_pool_map(
    evaluator: Evaluator,
    workers: int,
    address: str | None = None,
    threads: int | None = None,
    gpus: float = 0.0,
):
    """``workers`` Ray actors on a local or existing Ray cluster, each holding ``evaluator``
    (put in the object store once) and scoring its share of every generation vectorised;
    ``threads``: each actor's CPUs and torch threads (default: the smallest node's CPUs over
    the workers, at least 1); ``gpus``: the GPUs each asks for (a fraction shares one).
    Returns ``(map_fn, pool)``; ``pool.terminate()`` ends the actors."""
    import ray

    connect_ray(address, workers)
    if threads is None:
        nodes = [n["Resources"].get("CPU", 1) for n in ray.nodes() if n.get("Alive")]
        threads = max(1, int(min(min(nodes, default=1), ray.cluster_resources()["CPU"] / workers)))
    shared = ray.put(evaluator)
    actor = ray.remote(num_cpus=threads, num_gpus=gpus)(_Scorer)
    actors = [actor.remote(shared, threads, tf32_switches()) for _ in range(workers)]
    pool = _RayMap(actors)
    return pool, pool
