"""The dtype a model computes in on this CPU: bfloat16 only where the CPU multiplies it natively.

x86 CPUs multiply bfloat16 matrices in hardware only with AVX512-BF16 or AMX; without them
torch falls back to a reference loop. Measured on an AVX2-only AMD EPYC (one thread, a
4096x640 @ 640x2048 matmul): float32 37 GFLOPS, bfloat16 0.3, so a bfloat16 model (the shipped
default, chosen because bf16 ran 2x faster than float32 on AVX512-BF16) would encode ~100x slower
there. On such CPUs a model configured for bfloat16 computes in float32: the configuration (and a
saved model) keeps saying bfloat16, the weights are upcast exactly, and vectors are those of a
float32 run (they already differed slightly between AMX and AVX512-BF16 kernels).
``SPLARE_CPU_BF16=1`` keeps bfloat16 anyway; other CPU architectures keep the configured dtype.
"""
from __future__ import annotations

import functools
import logging
import os
import platform

import torch

logger = logging.getLogger(__name__)
FORCE_BF16_ENV = "SPLARE_CPU_BF16"


@functools.lru_cache(maxsize=1)
def cpu_multiplies_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (always assumed off x86)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return True
    cpu = torch.cpu
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(check is None for check in checks):
        return True  # this torch cannot tell: keep the configured dtype
    return any(check is not None and bool(check()) for check in checks)


def runtime_dtype(configured: torch.dtype) -> torch.dtype:
    """``configured``, or float32 for bfloat16 on an x86 CPU without bf16 instructions."""
    if configured is not torch.bfloat16 or os.environ.get(FORCE_BF16_ENV) == "1" or cpu_multiplies_bf16():
        return configured
    _note_once()
    return torch.float32


@functools.lru_cache(maxsize=1)
def _note_once() -> None:
    logger.info("this CPU has no bfloat16 matrix instructions (AVX512-BF16/AMX): computing in float32 "
                "(%s=1 keeps bfloat16)", FORCE_BF16_ENV)
