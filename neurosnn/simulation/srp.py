"""Residual membrane potential (SRP; Hao, Ding, Bu, Huang & Yu, AAAI 2023; code
hzc1208/ANN2SNN_SRP, ``modules.MPLayer``). The authors start every potential at θ/2 (φ = 0.5),
which the rule needs: from φ = 0 a neuron whose input came to whole spikes ends at exactly 0.

Unevenness error: a neuron whose ANN output is 0 can still fire when its positive inputs
arrive before its negative ones; having fired n ≥ 1 spikes from a net input Σx ≤ 0, it is
left with a residual potential φθ + Σx − nθ below zero (φ = 1/2). Hao et al. prove the condition
and propose a two-phase run: simulate the SNN for τ
pre-simulation steps, mark every IF neuron whose potential after step τ is not above a small
margin, start every potential again from its initial value (``φ·θ``), and run the SNN with the
marked neurons silenced, reading the output from that second phase only.

The authors' code keeps a neuron whose potential, in units of its threshold, exceeds 1e-3
(``v > 1e-3`` after dividing the input by ``v_threshold``) and multiplies the others' spikes
by 0; a silenced neuron here starts its second phase at −∞, which never reaches a threshold
(the same spikes, in both engines). The paper and its tables count T from the start of the
second phase, the τ steps outside it; neurosnn counts them inside: the accuracy curve has no
answer for steps 1 … τ, and its step τ + t is the second phase's step t (the leaderboard's
"steps to ANN − 1%" includes τ). The authors run SRP without the layer delay (every layer
within one step), which is where τ steps fill every layer; with the layer delay a layer deeper
than τ has not yet received anything when its potential is read.
"""

from __future__ import annotations

import torch

MARGIN = 1e-3  # a neuron is kept where its potential after τ steps exceeds MARGIN·θ (the code's)


def silenced(v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` which neurons SRP silences: potential ``v [B, N]`` after the τ
    pre-simulation steps at or below ``MARGIN·θ`` (``theta [B]``, each sample's threshold)."""
    return v <= MARGIN * theta.view(-1, 1)
