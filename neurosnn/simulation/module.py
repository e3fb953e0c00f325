"""The converted SNN as a ``torch.nn.Module``, for a user's own loop.

    net = SNNModule(snn)                 # or SNNModule(snn, delay="none")
    net.reset()
    for t in range(T):
        out = net(x)                     # one timestep: the output layer's potential [B, classes]
    outputs = net.run(x, T)              # [T, B, classes]

With SRP's ``presim`` τ (``neurosnn.simulation.srp``; ``SNNModule(snn, "none", presim=4)``) the
first τ steps are its pre-simulation: they return zeros (no answer), and after step τ every
potential starts again with the neurons SRP silences at −∞; step τ + t is the second phase's step
t, as in ``simulate(presim=τ)``.

The module shares the SNN's connections, thresholds and initial potentials (so ``.to()`` moves
the SNN and ``snn.set_thresholds`` retunes the module; a change takes effect at the next
``SNNModule.reset``), and steps through the same engine as ``neurosnn.simulation.run.simulate``
(``neurosnn.simulation.engine.fast.Simulation``): its spikes are exactly simulate()'s (tested).
``state_dict()`` holds the connections' weights and, as extra state, the thresholds and φ.
Its steps are not differentiable (a spike is a step function); to fine-tune a converted SNN
with surrogate gradients, unroll it with ``neurosnn.learn.surrogate.network.SurrogateSNN``: in
``.train()`` mode the outputs' ``backward`` raises saying so. It runs in float32: ``.double()``,
``.half()`` and ``.to(dtype)`` are refused in one line (``simulate(precision="bf16")`` runs
bfloat16).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neurosnn.errors import UserError
from neurosnn.simulation.engine.fast import Simulation, check_timing, run_blocks
from neurosnn.simulation.options import BiasOnset, Delay, check_presim
from neurosnn.snn.network import ConvertedSNN

SURROGATE = (
    "SNNModule's steps are not differentiable (a spike is a step function); to train a "
    "converted SNN, unroll it with neurosnn.learn.surrogate.network.SurrogateSNN (neurosnn "
    "bptt on the command line)"
)


class _NotDifferentiable(torch.autograd.Function):
    """The output, to whose ``backward`` a training loop comes: it says where training lives."""

    @staticmethod
    def forward(ctx, out: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        return out.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        raise UserError(SURROGATE)


class SNNModule(nn.Module):
    """A converted SNN stepped one timestep per call (stateful) or run for T steps.

    Args:
        snn: the converted SNN (shared, not copied).
        delay: ``"layer"`` (one step per connection, bindsnet's) or ``"none"``.
        bias_onset: ``"always"`` or ``"input"`` (``neurosnn.simulation.engine.onsets``).
        presim: SRP's pre-simulation steps τ (0: none; ``neurosnn.simulation.srp``).
    """

    def __init__(
        self,
        snn: ConvertedSNN,
        delay: Delay = "layer",
        bias_onset: BiasOnset = "always",
        presim: int = 0,
    ):
        super().__init__()
        check_timing(delay, bias_onset)
        check_presim(presim)
        self.snn, self.delay, self.bias_onset, self.presim = snn, delay, bias_onset, presim
        self.connections = nn.ModuleList(c.ops for c in snn.network.connections.values())
        self._sim: Simulation | None = None
        self._steps = 0  # steps since reset
        self.spikes: dict[str, torch.Tensor] = {}  # each IF layer's spikes at the last step
        self.eval()  # an inference module; .train() is asked for in a training loop

    def _output(self, out: torch.Tensor) -> torch.Tensor:
        """``out``; in training mode with gradients on, one whose ``backward`` says that the
        steps are not differentiable and where training lives."""
        if self.training and torch.is_grad_enabled():
            anchor = torch.zeros((), device=out.device, requires_grad=True)
            return _NotDifferentiable.apply(out, anchor)
        return out

    def reset(self) -> None:
        """Start again from the initial potentials ``φ·θ`` (the next call is step 1)."""
        self._sim, self._steps, self.spikes = None, 0, {}

    def _start(self, batch: int, silenced: dict[str, torch.Tensor] | None = None) -> Simulation:
        theta, phi = self.snn.per_sample(batch)
        return Simulation(
            self.snn, batch, theta, phi, self.delay, self.bias_onset, 1, silenced=silenced
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Advance one timestep with input current ``x [B, C, H, W]``; returns the output
        layer's potential ``[B, classes]`` (its argmax is the prediction so far); zeros during
        SRP's pre-simulation."""
        with torch.no_grad():
            out = self._step(x)
        return self._output(out)

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        x = self._checked(x)
        if self._sim is None:
            self._sim = self._start(len(x))
        elif self._sim.batch != len(x):
            raise UserError(
                f"a batch of {len(x)} images after {self._sim.batch}; call reset() first"
            )
        block = self._sim.block(x.unsqueeze(0))
        self.spikes = {name: s[0].ne(0) for name, s in block.spikes.items()}
        if not self.presim:  # no step count: torch.compile would recompile for each value
            return block.output[0].clone()
        self._steps += 1
        if self._steps > self.presim:
            return block.output[0].clone()
        if self._steps == self.presim:  # SRP: start again, the silenced neurons at −∞
            self._sim = self._start(len(x), self._sim.silenced_by_srp())
        return torch.zeros_like(block.output[0])

    def run(
        self, x: torch.Tensor, timesteps: int, spike_counts: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Run ``x`` (a constant input current) for ``timesteps`` steps from the initial
        potentials, apart from the stepping state.

        Returns:
            ``[T, B, classes]`` the output potential after each step; with ``spike_counts``
            also, per IF layer, ``[T, B]`` the spikes of each image at each step.
        """
        with torch.no_grad():
            out, counts = self._run(x, timesteps)
        out = self._output(out)
        return (out, counts) if spike_counts else out

    def _run(self, x: torch.Tensor, timesteps: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self._checked(x)
        if timesteps < 1:
            raise UserError(f"timesteps must be >= 1, got {timesteps}")
        theta, phi = self.snn.per_sample(len(x))
        outputs, counts = [], {n: [] for n in self.snn.if_names}
        blocks = run_blocks(
            self.snn,
            x,
            timesteps,
            theta,
            phi=phi,
            delay=self.delay,
            bias_onset=self.bias_onset,
            presim=self.presim,
            keep_spikes=False,
        )
        for block in blocks:
            outputs.append(block.output.clone())
            for name, c in block.counts.items():
                counts[name].append(c.clone())
        return torch.cat(outputs), {name: torch.cat(c) for name, c in counts.items()}

    def _checked(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != tuple(self.snn.input_shape):
            raise UserError(
                f"input has sample shape {tuple(x.shape[1:])}, the SNN expects "
                f"{tuple(self.snn.input_shape)}"
            )
        return x.to(self.snn.device, torch.float32)

    def _apply(self, fn, recurse: bool = True):
        probe = fn(torch.zeros(1))
        if probe.dtype != torch.float32:
            raise UserError(
                f"SNNModule runs in float32 (its spikes, thresholds and potentials), not "
                f"{probe.dtype}; move it with .to(device) only (bfloat16 runs through "
                "simulate(snn, ..., precision='bf16'))"
            )
        super()._apply(fn, recurse)
        self.snn.network._apply(fn)  # the layers' thresholds and state move with the weights
        self.reset()
        return self

    def get_extra_state(self) -> dict[str, Any]:
        return {"thresholds": self.snn.thresholds, "phi": self.snn.phi, "offsets": self.snn.offsets}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.snn.set_thresholds(state["thresholds"])
        self.snn.set_phi(state["phi"])
        self.snn.set_offsets(state.get("offsets", {}))
        self.reset()
