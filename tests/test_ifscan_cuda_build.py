"""The Triton scan compiled ahead of time for NVIDIA GPUs, on a machine without one.

The tests of ``test_ifscan`` run the kernel's source in Triton's interpreter; this one checks
that the same source lowers to a CUDA binary (what a GPU run would launch) and that the binary
keeps the step function's arithmetic: no fused multiply-add. It runs in a fresh process, since
the test session's Triton is in interpreter mode.
"""

import os
import subprocess
import sys

import pytest

from neurosnn.simulation.engine import ifscan_triton

BUILD = r"""
import re
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from neurosnn.simulation.engine.ifscan_triton import BLOCK, NUM_WARPS, _scan_kernel

signature = {name: "*fp32" for name in ("cur_ptr", "first_ptr", "v_ptr", "theta_ptr", "out_ptr")}
signature.update(counts_ptr="*i32", tau="i32", batch="i32", n="i32")
signature.update(SHIFT="constexpr", CONSTANT="constexpr", BLOCK="constexpr")
for arch in (80, 90):
    for shift in (0, 1):
        for constant in (0, 1):
            source = ASTSource(
                _scan_kernel, signature, {"SHIFT": shift, "CONSTANT": constant, "BLOCK": BLOCK}
            )
            options = {"num_warps": NUM_WARPS, "enable_fp_fusion": False}
            kernel = triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)
            ops = set(re.findall(r"\b(fma|add|sub)\.[a-z.]*f32", kernel.asm["ptx"]))
            print(arch, shift, constant, len(kernel.asm["cubin"]), sorted(ops))
"""


def _nvidia_backend() -> bool:
    if not ifscan_triton.available():
        return False
    from triton.backends import backends

    return "nvidia" in backends


@pytest.mark.skipif(not _nvidia_backend(), reason="no triton with its NVIDIA backend")
def test_kernel_builds_for_cuda_without_fused_multiply_add():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "0"
    done = subprocess.run(
        [sys.executable, "-c", BUILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" ", 4) for line in done.stdout.strip().splitlines()]
    assert len(rows) == 8  # sm_80 and sm_90, every SHIFT × CONSTANT
    for arch, shift, constant, cubin, ops in rows:
        assert int(cubin) > 0
        assert "fma" not in ops and "add" in ops and "sub" in ops, (arch, shift, constant, ops)
