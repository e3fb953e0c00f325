"""Surrogate-gradient SNNs in plain PyTorch (BPTT), apart from the BindsNET path.

``spike``: Heaviside spikes with surrogate gradients (a registry); ``neurons``: IF and LIF as
pure step functions with thin modules; ``network``: a converted SNN unrolled over T for BPTT,
with weights exchanged both ways with the BindsNET network; ``finetune``: BPTT fine-tuning;
``sparsity``: the spike-count loss schedules of Allred et al.; ``stochmax``: DropMax classifier.
"""
