"""A NIR file run by another simulator, with that simulator's documented import call, so that
what each one makes of neurosnn's files is measured, not assumed.

Each simulator pins its own versions (sinabs: ``nir <= 1.0.4``), so each lives in its own
environment (``make consumers``: ``build/consumers/NAME``); ``run_in`` runs this module there:

    python -m neurosnn.io.nirconsumers TARGET FILE IMAGES.npy TIMESTEPS OUT.npy

It feeds the images as a constant current every step (neurosnn's input) and saves each step's
class scores ``[T, B, classes]``: the output integrator's potential (for the targets without
``nir.I``, the running sum of the output current, which is the same thing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CONSUMERS = ("nirtorch", "norse", "rockpool", "sinabs", "snntorch", "spikingjelly")
ENVIRONMENTS = "build/consumers"  # under the checkout; NEUROSNN_CONSUMERS overrides it


def _stepped(module, x, timesteps: int):
    """A stateful module ``(out, state) = module(x, state)`` run ``timesteps`` steps."""
    import torch

    outs, state = [], None
    for _ in range(timesteps):
        out, state = module(x) if state is None else module(x, state)
        outs.append(out.reshape(len(x), -1))
    return torch.stack(outs)


def _currents(target: str, path: Path, x, timesteps: int):
    """``[T, B, classes]``: what ``target``'s importer makes of the file, each step."""
    import nir

    if target == "nirtorch":
        from neurosnn.io.nirconsumer import build

        return _stepped(build(path), x, timesteps)
    graph = nir.read(str(path))
    if target == "norse":
        import norse.torch
        from norse.torch.functional.reset import reset_subtract

        return _stepped(norse.torch.from_nir(graph, reset_method=reset_subtract), x, timesteps)
    if target == "sinabs":
        import sinabs

        module = sinabs.from_nir(graph, batch_size=len(x))
        steps = x.unsqueeze(1).expand(len(x), timesteps, *x.shape[1:])
        out = module(steps.reshape(-1, *x.shape[1:]))
        out = out[0] if isinstance(out, tuple) else out
        return out.reshape(len(x), timesteps, -1).transpose(0, 1)
    if target == "rockpool":  # its modules take [B, T, features] and run every step at once
        from rockpool.nn.modules import from_nir

        steps = x.flatten(1)[:, None].expand(len(x), timesteps, -1).contiguous()
        out = from_nir(graph)(steps)
        return (out[0] if isinstance(out, tuple) else out).transpose(0, 1)
    if target == "snntorch":
        from snntorch.import_nir import import_from_nir

        return _stepped(import_from_nir(graph), x, timesteps)
    if target == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange import import_from_nir

        return _stepped(import_from_nir(graph), x, timesteps)
    raise ValueError(f"unknown consumer {target!r}; expected one of {', '.join(CONSUMERS)}")


def scores(target: str, path: str | Path, images: np.ndarray, timesteps: int) -> np.ndarray:
    """``[T, B, classes]`` class scores of ``target`` running the file on ``images``."""
    import torch

    with torch.no_grad():
        out = _currents(target, Path(path), torch.from_numpy(images).float(), timesteps)
    out = out.double()
    return (out if target == "nirtorch" else out.cumsum(0)).numpy()


def environment(target: str, root: str | Path | None = None) -> Path | None:
    """The Python of ``target``'s environment (``make consumers``), or None if not built."""
    base = Path(root or os.environ.get("NEUROSNN_CONSUMERS") or _checkout() / ENVIRONMENTS)
    python = base / target / "bin" / "python"
    return python if python.exists() else None


def _checkout() -> Path:
    return Path(__file__).resolve().parents[2]


def run_in(
    target: str, path: str | Path, images: np.ndarray, timesteps: int, python: str | Path
) -> np.ndarray:
    """``scores`` computed by ``python`` (``target``'s environment) in a child process; a
    failure raises RuntimeError with the last lines the child printed."""
    with tempfile.TemporaryDirectory() as folder:
        x, out = Path(folder) / "images.npy", Path(folder) / "scores.npy"
        np.save(x, np.ascontiguousarray(images, np.float32))
        cmd = [str(python), "-m", __name__, target, str(path), str(x), str(timesteps), str(out)]
        env = {**os.environ, "PYTHONPATH": str(_checkout()), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise RuntimeError(f"{target} could not run {path}: {tail}")
        return np.load(out)


def main(argv: list[str]) -> int:
    target, path, images, timesteps, out = argv
    np.save(out, scores(target, path, np.load(images), int(timesteps)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
