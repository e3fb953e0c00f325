"""Layer-major simulation of a converted SNN (the ``fast`` engine of ``neurosnn.simulation.run``).

The network is a directed acyclic graph, so for a block of τ timesteps each layer can be
computed for the whole block once the layers it reads are: in topological order, each of its
connections is applied once to τ·B spike maps (one convolution instead of τ), the currents are
summed in bindsnet's order, then the IF recurrence runs over the block in one fused scan
(``neurosnn.simulation.engine.ifscan``). The per-connection delay of bindsnet's synchronous
``Network.run`` is a one-step shift of each layer's summed currents, carried across blocks (every
connection into a layer takes the same one step). τ = 1 is the classic step loop;
τ = T is fully time-batched. Every τ gives bindsnet's spikes exactly: a convolution's result for
one sample does not depend on the batch around it, and the scan's float32 arithmetic is the
step function's.

Thresholds and initial potentials may differ per sample (``theta, phi [B, layers]``), so P
candidates × E images run as one batch. With ``bias_onset="input"`` (and the layer delay) each
layer's current — its bias, until then the only thing it carries — is withheld until the step
its input can first arrive (after the shortest path from the input); a chain is then exactly
the ``delay="none"`` network run one step later per layer.

``precision="bf16"`` runs the connections (convolutions, pooling, linear layers) in bfloat16
under autocast while the membrane potentials, the scan and the output integrator stay float32:
the reduced-precision mode, whose spikes are no longer exactly bindsnet's (its accuracy effect
is measured in the README).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

import torch

from neurosnn.simulation.encoding import encode
from neurosnn.simulation.engine.ifscan import if_scan_
from neurosnn.simulation.engine.pooling import avg_pool, gated_max_pool
from neurosnn.simulation.options import (
    BIAS_ONSETS,
    DELAYS,
    PRECISIONS,
    BiasOnset,
    Delay,
    Encoding,
    Precision,
    check_presim,
)
from neurosnn.simulation.srp import silenced as srp_silenced
from neurosnn.snn.network import INPUT, ConvertedSNN
from neurosnn.snn.synapses import OpsConnection, SpikeMaxPool2d

CPU_BLOCK_BYTES = 64 * 2**20  # measured best on 2 CPU cores (README, make bench)
# full-width networks, whose one step already fills the budget, still run two steps a block
# (measured faster than the step loop in 11 of 12 VGG9/11/16 shapes, README) unless the two
# steps' buffers pass this
CPU_TWO_STEP_BYTES = 512 * 2**20


def check_timing(delay: str, bias_onset: str) -> None:
    """Raise naming a bad ``delay`` or ``bias_onset``."""
    if delay not in DELAYS:
        raise ValueError(f"delay must be one of {DELAYS}, got {delay!r}")
    if bias_onset not in BIAS_ONSETS:
        raise ValueError(f"bias_onset must be one of {BIAS_ONSETS}, got {bias_onset!r}")


def onsets(snn: ConvertedSNN, delay: Delay, bias_onset: BiasOnset) -> dict[str, int]:
    """Leading steps whose current is withheld, per layer: with the layer delay a layer's
    input can first arrive at the step after the shortest path from the input (step n for a
    layer n connections away), so ``"input"`` withholds n steps; otherwise none."""
    check_timing(delay, bias_onset)
    if delay == "layer" and bias_onset == "input":
        return dict(snn.shortest_paths)
    return dict.fromkeys(snn.layer_names, 0)


@dataclass
class Block:
    """What every layer did during timesteps ``start … start + τ − 1``.

    Attributes:
        start: first timestep of the block.
        spikes: per IF layer, threshold-valued spikes ``[τ, B, *shape]`` (0 where silent);
            empty where the simulation keeps no spikes (``keep_spikes=False``).
        counts: per IF layer, spikes per step and sample ``[τ, B]``.
        output: the output layer's potential after each step ``[τ, B, classes]``.
    """

    start: int
    spikes: dict[str, torch.Tensor]
    counts: dict[str, torch.Tensor]
    output: torch.Tensor


def cuda_index(device: torch.device) -> int:
    """The index of a CUDA device (a bare ``cuda``: the current one), as torch's per-process
    memory functions take it."""
    return torch.cuda.current_device() if device.index is None else device.index


def cuda_usable_bytes(device: torch.device) -> int:
    """The GPU memory this process may still take: the device's free memory plus what its
    own allocator holds unused (it reuses that), within its share of the device where one is
    set (``torch.cuda.set_per_process_memory_fraction``, ``--gpu-memory``), so jobs sharing
    one GPU size their blocks from their own share, not from the whole card."""
    free, total = torch.cuda.mem_get_info(device)
    allocated = torch.cuda.memory_allocated(device)
    usable = free + torch.cuda.memory_reserved(device) - allocated
    share = getattr(torch.cuda, "get_per_process_memory_fraction", None)  # not in older torch
    if share is not None:
        usable = min(usable, int(share(cuda_index(device)) * total) - allocated)
    return max(usable, 0)


def auto_time_block(snn: ConvertedSNN, batch: int, timesteps: int) -> int:
    """The largest τ whose per-layer buffers fit the memory budget of the SNN's device
    (CPU: a cache-friendly 64 MiB, and at least 2 steps while they fit in 512 MiB; CUDA: a
    quarter of what this process may still take, ``cuda_usable_bytes``)."""
    device = snn.device
    if device.type == "cuda":
        budget = cuda_usable_bytes(device) // 4
    else:
        budget = CPU_BLOCK_BYTES
    # every IF layer's spike buffer, plus one layer's currents and its convolution's input
    neurons = sum(snn.layer(n).n for n in snn.if_names)
    widest = max(snn.layer(n).n for n in snn.layer_names)
    per_step = batch * 4 * (neurons + 2 * widest)
    tau = budget // per_step
    if device.type == "cpu" and 2 * per_step <= CPU_TWO_STEP_BYTES:
        tau = max(tau, 2)
    return max(1, min(timesteps, tau))


class _Edge:
    """One connection's operators applied to a block of its source's output, with the spike
    max pooling's counts carried across blocks."""

    def __init__(self, source: str, conn: OpsConnection, bf16: bool) -> None:
        self.source, self.conn, self.bf16 = source, conn, bf16
        self.pool_counts: dict[int, torch.Tensor] = {}
        self.stateful = any(isinstance(m, SpikeMaxPool2d) for m in conn.ops)
        self.constant: torch.Tensor | None = None  # [1, B, N] of a constant input current
        self.silent: torch.Tensor | None = None  # [1, B, N] of a silent source (its bias)

    def constant_current(self, x: torch.Tensor) -> torch.Tensor:
        """``[1, B, N]``: the current of a constant input ``x``, computed on first use."""
        if self.constant is None:
            self.constant = self.currents(x.unsqueeze(0))
        return self.constant

    def silent_current(self, row: torch.Tensor) -> torch.Tensor:
        """``[1, B, N]``: the current while the source is silent (``row [1, B, *in]`` of
        zeros' shape), computed on first use; a pooling's counts gain nothing from zeros."""
        if self.silent is None:
            self.silent = self.currents(torch.zeros_like(row))
        return self.silent

    def block_currents(self, src: torch.Tensor, lead: int) -> torch.Tensor:
        """``currents(src)`` where the first ``lead`` rows of ``src`` are known to be silent:
        only the rest is convolved (``[1, B, N]`` when every row is silent)."""
        if lead == 0:
            return self.currents(src)
        silent = self.silent_current(src[:1])
        if lead == len(src):
            return silent
        active = self.currents(src[lead:])
        cur = active.new_empty((len(src), *active.shape[1:]))
        cur[:lead] = silent
        cur[lead:] = active
        return cur

    def currents(self, src: torch.Tensor) -> torch.Tensor:
        """The connection applied to ``src [τ, B, *in]`` in time order → ``[τ, B, N]``."""
        tau, batch = src.shape[:2]
        with torch.autocast(src.device.type, torch.bfloat16, enabled=self.bf16):
            x = self._apply(src.flatten(0, 1), tau, batch)
        return x.float().view(tau, batch, -1)

    def _apply(self, x: torch.Tensor, tau: int, batch: int) -> torch.Tensor:
        for k, m in enumerate(self.conn.ops):
            if isinstance(m, SpikeMaxPool2d):
                pooled, self.pool_counts[k] = gated_max_pool(
                    m, x.view(tau, batch, *x.shape[1:]), self.pool_counts.get(k)
                )
                x = pooled.flatten(0, 1)
            elif isinstance(m, torch.nn.AvgPool2d):
                x = avg_pool(m, x)  # the same sums as torch's, one fast pass on CPU
            else:
                x = m(x)
        return x


class _Layer:
    """One layer's state across blocks: potential, spike buffer, delayed current."""

    def __init__(self, edges: list[_Edge], v: torch.Tensor) -> None:
        self.edges, self.v = edges, v
        self.spikes: torch.Tensor | None = None  # IF layers: [τ, B, *shape] (_spike_buffers)
        self.carry: torch.Tensor | None = None  # [B, N] current of the step before the block


def _spike_slots(snn: ConvertedSNN, keep: bool) -> dict[str, int]:
    """The buffer each IF layer's spikes go to. ``keep``: one buffer per layer (every layer's
    spikes stay readable in the block). Otherwise a layer takes over the buffer of a layer
    whose last reader came before it, as an ANN's forward pass drops an activation once read:
    the block's working set is then a few layers', as the ANN's is, instead of every layer's
    (on a CPU, cache instead of memory)."""
    names = snn.if_names
    if keep:
        return {n: i for i, n in enumerate(names)}
    order = {n: i for i, n in enumerate(snn.layer_names)}
    last_read = dict.fromkeys(names, len(order))  # never freed: read by no layer
    for n in snn.layer_names:  # topological order: the last reader seen is the last
        for source, _ in snn.incoming(n):
            if source in last_read:
                last_read[source] = order[n]
    slots: dict[str, int] = {}
    holder: list[str] = []  # per slot, the layer whose spikes it holds now
    for n in names:
        free = [k for k, h in enumerate(holder) if last_read[h] < order[n]]
        size = snn.layer(n).n
        # of the free slots, the one whose holder was closest in size (fewer large buffers)
        k = min(free, key=lambda k: abs(snn.layer(holder[k]).n - size), default=len(holder))
        if k == len(holder):
            holder.append(n)
        holder[k], slots[n] = n, k
    return slots


def _spike_buffers(snn: ConvertedSNN, slots: dict[str, int], rows: int, batch: int, device):
    """Per IF layer, its ``[rows, B, *shape]`` view of its slot's buffer (zeros), reused by
    every block: allocating fresh buffers costs more in page faults than the scan itself."""
    sizes: dict[int, int] = {}
    for n, k in slots.items():
        sizes[k] = max(sizes.get(k, 0), snn.layer(n).n)
    flat = {k: torch.zeros(rows * batch * size, device=device) for k, size in sizes.items()}
    return {
        n: flat[k][: rows * batch * snn.layer(n).n].view(rows, batch, *snn.layer(n).shape)
        for n, k in slots.items()
    }


class Simulation:
    """One batch's state across blocks of timesteps: every layer's potential, spike buffer,
    delayed current and pooling counts. ``block`` advances it by the rows of input it is
    given; ``run_blocks`` and ``neurosnn.simulation.module.SNNModule`` both drive it.

    Args:
        snn: the converted network (its weights; its thresholds are not read).
        batch: images in the batch.
        theta: ``[B, IF layers]`` threshold of each sample in each IF layer.
        phi: ``[B, IF layers]`` initial potential of each sample's IF layers as a fraction of
            the threshold (the potential starts at ``φ·θ``); None for 0.
        delay: ``"layer"`` (one step per connection) or ``"none"``.
        bias_onset: ``"always"`` or ``"input"`` (``onsets``).
        rows: the longest block (τ) it will be given.
        precision: ``"fp32"`` (bindsnet's spikes exactly) or ``"bf16"`` connections.
        silenced: per IF layer, ``[B, N]`` neurons that start at −∞ and so never fire
            (SRP's second phase, ``neurosnn.simulation.srp``).
        keep_spikes: every IF layer's spikes in each ``Block`` (False: ``Block.spikes`` is
            empty and the layers share buffers, ``_spike_slots``; the counts and the output
            are the same).
    """

    def __init__(
        self,
        snn: ConvertedSNN,
        batch: int,
        theta: torch.Tensor,
        phi: torch.Tensor | None,
        delay: Delay,
        bias_onset: BiasOnset,
        rows: int,
        precision: Precision = "fp32",
        silenced: dict[str, torch.Tensor] | None = None,
        keep_spikes: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        device = snn.device
        self.snn, self.batch, self.shift = snn, batch, delay == "layer"
        self.withheld = onsets(snn, delay, bias_onset)
        self.theta = theta.to(device, torch.float32).T.contiguous()  # [layers, B]
        # φ·θ in float32, the product bindsnet's nodes start from
        v0 = None if phi is None else phi.to(device, torch.float32).T * self.theta
        bf16 = precision == "bf16"
        self.layers = {
            n: _Layer(
                [_Edge(s, c, bf16) for s, c in snn.incoming(n)],
                _initial(v0, i, batch, snn.layer(n), device),
            )
            for i, n in enumerate(snn.layer_names)
        }
        self.keep_spikes = keep_spikes
        buffers = _spike_buffers(snn, _spike_slots(snn, keep_spikes), rows, batch, device)
        for n, buf in buffers.items():
            self.layers[n].spikes = buf
        for name, mask in (silenced or {}).items():
            layer = self.layers[name]
            layer.v = layer.v.masked_fill(mask.view_as(layer.v), float("-inf"))
        # timesteps done, counted only where a layer's current is withheld (its one reader):
        # torch.compile would compile SNNModule's step again for every value of a count
        self.steps, self.counting = 0, any(self.withheld.values())
        self.fired: set[str] = set()  # IF layers that have spiked in some sample

    def silenced_by_srp(self) -> dict[str, torch.Tensor]:
        """Per IF layer, ``[B, N]`` the neurons SRP silences after the steps run so far."""
        return {
            n: srp_silenced(self.layers[n].v, self.theta[i])
            for i, n in enumerate(self.snn.if_names)
        }

    def block(self, inputs: torch.Tensor, constant: bool = False) -> Block:
        """Advance by ``len(inputs)`` steps; ``inputs [n, B, C, H, W]``: the input current of
        each step (``constant``: the same every step, so a connection from the input that
        keeps no state computes its current once). The block's ``start`` is the steps done
        before it where a layer's current is withheld, else 0 (``run_blocks`` numbers them)."""
        start, n_steps, batch = self.steps if self.counting else 0, len(inputs), self.batch
        spikes, counts, out = {}, {}, None

        def rows(e: _Edge, n: int) -> torch.Tensor:  # what a connection reads
            return inputs[:n] if e.source == INPUT else self.layers[e.source].spikes[:n]

        def current(e: _Edge, silent: bool = False) -> torch.Tensor:
            """An edge's current over the block (``silent``: one row, its silent source's)."""
            if silent:
                cur = e.silent_current(rows(e, 1))
            elif constant and e.source == INPUT and not e.stateful:
                cur = e.constant_current(inputs[0])
            else:
                cur = e.block_currents(rows(e, n_steps), self._silent_rows(e.source, counts))
            if shared is not None:  # a cache made just now is shared from now on
                shared.update(_storage(c) for c in (e.constant, e.silent) if c is not None)
            return cur

        shared = self._shared_storages(inputs)

        for i, name in enumerate(self.snn.layer_names):
            layer = self.layers[name]
            if self.shift and layer.carry is None:  # bindsnet: every source silent before step 0
                layer.carry = _sum((current(e, silent=True) for e in layer.edges), shared)[0]
                if self.withheld[name]:
                    layer.carry = torch.zeros_like(layer.carry)
            cur = _sum((current(e) for e in layer.edges), shared)
            # with the layer delay, step t reads the current of step t − 1 (carried across
            # blocks); row r is read at step start + r + 1, so rows before the onset are
            # silenced (a layer fed by the input alone is withheld one step: never a row)
            if self.withheld[name]:
                silent = min(n_steps, self.withheld[name] - start - 1)
                if silent > 0:
                    if shared is None or len(cur) < n_steps or _storage(cur) in shared:
                        cur = cur.expand(n_steps, *cur.shape[1:]).clone()  # a cached current
                    cur[:silent] = 0
            first = layer.carry
            if self.shift:  # a view that keeps the block's currents until the next block:
                layer.carry = cur[-1]  # copying and freeing them was slower (glibc trims the
                # freed heap top and the next block faults it back in, 5x the page faults)
            if name == self.snn.output_name:
                out = _accumulate(cur, layer, first, self.shift, n_steps)
            else:
                buf = layer.spikes[:n_steps]
                counts[name] = if_scan_(
                    cur, layer.v, self.theta[i], buf.view(n_steps, batch, -1), first, self.shift
                )
                if self.keep_spikes:
                    spikes[name] = buf
        if self.counting:
            self.steps += n_steps
        return Block(start, spikes, counts, out)

    def _silent_rows(self, source: str, counts: dict[str, torch.Tensor]) -> int:
        """How many leading rows of this block ``source`` spent silent in every sample: its
        connections need not convolve them (their current is the bias; with the layer delay
        a layer n connections deep is silent for at least its first n steps). 0 once the
        source has fired, for the input, and under the compiler (no data-dependent branches
        in a traced step)."""
        if source == INPUT or source in self.fired or torch.compiler.is_compiling():
            return 0
        fired = counts[source].sum(1).nonzero()
        if len(fired) == 0:
            return len(counts[source])
        self.fired.add(source)
        return int(fired[0])

    def _shared_storages(self, inputs: torch.Tensor) -> set[int] | None:
        """The storages a connection's current may alias and a sum must not write into: the
        input, every spike buffer, every cached constant or silent-source current (``block``
        adds the caches it makes; None under the compiler, which traces no storage pointers:
        every sum is then out of place)."""
        if torch.compiler.is_compiling():
            return None
        tensors = [inputs]
        for layer in self.layers.values():
            tensors += [layer.spikes] + [c for e in layer.edges for c in (e.constant, e.silent)]
        return {_storage(t) for t in tensors if t is not None}


def run_blocks(
    snn: ConvertedSNN,
    x: torch.Tensor,
    timesteps: int,
    theta: torch.Tensor,
    *,
    phi: torch.Tensor | None = None,
    delay: Delay = "layer",
    bias_onset: BiasOnset = "always",
    encoding: Encoding = "current",
    generator: torch.Generator | None = None,
    time_block: int | None = None,
    precision: Precision = "fp32",
    presim: int = 0,
    keep_spikes: bool = True,
) -> Iterator[Block]:
    """Simulate one batch, yielding a ``Block`` per τ timesteps.

    Layers run in topological order; each sums the currents of its incoming connections in
    BindsNET's order. A block's tensors are views of buffers the next block overwrites: use
    (or copy) them before asking for the next.

    Args:
        snn: the converted network (its weights; its thresholds are not read).
        x: ``[B, C, H, W]`` normalised images on the SNN's device.
        timesteps: T.
        theta: ``[B, IF layers]`` threshold of each sample in each IF layer.
        phi: ``[B, IF layers]`` initial potential of each sample's IF layers as a fraction of
            the threshold (the potential starts at ``φ·θ``); default 0.
        delay: ``"layer"`` (one step per connection) or ``"none"``.
        bias_onset: ``"always"`` (bindsnet's: every connection's bias acts from step 1) or
            ``"input"`` (withheld until the layer's input can arrive; ``onsets``).
        encoding: input encoding (``neurosnn.simulation.encoding``).
        generator: random generator of the stochastic encodings.
        time_block: τ; default ``auto_time_block``.
        precision: ``"fp32"`` (bindsnet's spikes exactly) or ``"bf16"`` connections.
        presim: SRP's pre-simulation steps (``neurosnn.simulation.srp``; 0: none): the first
            ``presim`` blocks' output is zero (not read), then every potential starts again with the
            neurons SRP silences at −∞; the second phase's blocks continue the step count.
        keep_spikes: every IF layer's spikes in each block (False: only counts and output,
            faster on a CPU; ``Simulation``).
    """
    check_presim(presim, timesteps)
    tau = min(time_block or auto_time_block(snn, len(x), timesteps), timesteps)
    # drawn up front, in the order bindsnet's run draws them
    inputs = None if encoding == "current" else encode(x, timesteps, encoding, generator)

    def phase(sim: Simulation, first: int, last: int) -> Iterator[Block]:
        for start in range(first, last, tau):
            n_steps = min(tau, last - start)
            if inputs is None:
                block = sim.block(x.unsqueeze(0).expand(n_steps, *x.shape), constant=True)
            else:
                block = sim.block(inputs[start : start + n_steps])
            yield replace(block, start=start)

    silenced = None
    if presim:
        rows = min(tau, presim)
        sim = Simulation(
            snn, len(x), theta, phi, delay, bias_onset, rows, precision, None, keep_spikes
        )
        for block in phase(sim, 0, presim):
            yield replace(block, output=torch.zeros_like(block.output))
        silenced = sim.silenced_by_srp()
    sim = Simulation(
        snn, len(x), theta, phi, delay, bias_onset, tau, precision, silenced, keep_spikes
    )
    yield from phase(sim, presim, timesteps)


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _sum(tensors, shared: AbstractSet[int] | None = None) -> torch.Tensor:
    """The sum in order (BindsNET's: each connection added to the running total). Added in
    place into the first current where it is this block's own tensor (its storage not in
    ``shared``; None: never), which saves allocating a block-sized tensor per merge (2–3× the
    cost of the addition itself on a CPU); the same float32 sums either way."""
    total = None
    for t in tensors:
        if total is None:
            total = t
        elif shared is None or _storage(total) in shared:
            total = total + t
        elif total.shape != torch.broadcast_shapes(total.shape, t.shape):
            total = total + t  # a constant current [1, …] plus a block's
        else:
            total.add_(t)
    return total


def _initial(v0, i: int, batch: int, layer, device) -> torch.Tensor:
    """``[B, N]`` starting potential of layer ``i``: ``φ·θ`` of each sample plus the layer's
    per-neuron offset (zero for the output layer; φ·θ zero when no φ is given)."""
    offset = getattr(layer, "offset", None)
    if v0 is None or i >= len(v0):
        v = torch.zeros(batch, layer.n, device=device)
    else:
        v = v0[i].unsqueeze(1).expand(batch, layer.n)
    if offset is not None:  # the sum bindsnet's nodes start from (+0 where there is none)
        v = v + offset.to(device, torch.float32).reshape(1, -1)
    return v.contiguous()


def _accumulate(cur, layer: _Layer, first, shift: bool, n_steps: int) -> torch.Tensor:
    """The output integrator over the block, step by step (float32 sums in time order)."""
    out = torch.empty(n_steps, *layer.v.shape, device=layer.v.device)
    v = layer.v
    for t in range(n_steps):
        r = t - int(shift)
        row = first if r < 0 else cur[r if len(cur) > 1 else 0]
        v = torch.add(v, row, out=out[t])
    layer.v = v.clone()
    return out
