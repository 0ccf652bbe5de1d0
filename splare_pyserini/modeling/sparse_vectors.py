"""Top-K, latent naming and integer quantization: one helper each, used by documents and queries."""
from __future__ import annotations

import torch

LATENT_PREFIX = "f"
PLACEHOLDER_TERM = "[unused0]"
"""Written for a document with no active latent, so its id stays findable in the index (as naver/splade does)."""


def latent_name(index: int) -> str:
    """Lucene term of latent ``index``: short, ASCII, no whitespace (``f1234``)."""
    return f"{LATENT_PREFIX}{index}"


def latent_index(name: str) -> int:
    if not name.startswith(LATENT_PREFIX) or not name[len(LATENT_PREFIX):].isdigit():
        raise ValueError(f"{name!r} is not a latent name like 'f1234'")
    return int(name[len(LATENT_PREFIX):])


def top_k(pooled: torch.Tensor, k: int | None) -> torch.Tensor:
    """Zero all but the ``k`` largest entries of each row (``k=None``: keep all)."""
    if k is None or k >= pooled.shape[-1]:
        return pooled
    if k <= 0:
        raise ValueError(f"top-k must be positive, got {k}")
    values, indices = torch.topk(pooled, k, dim=-1, sorted=False)
    return torch.zeros_like(pooled).scatter_(-1, indices, values)


def to_sparse_dicts(pooled: torch.Tensor) -> list[dict[str, float]]:
    """Rows of a (batch x d_sae) tensor as ``{latent_name: weight}`` for the positive entries."""
    pooled = pooled.detach().float().cpu()
    rows: list[dict[str, float]] = []
    for row in pooled:
        nz = torch.nonzero(row > 0).flatten().tolist()
        values = row[nz].tolist()
        rows.append({latent_name(i): v for i, v in zip(nz, values)})
    return rows


def quantize(vector: dict[str, float], scale: float) -> dict[str, int]:
    """Integer impacts ``round(weight * scale)``; entries that round to 0 are dropped.

    Lucene stores impacts as term frequencies, so they must be positive integers.
    """
    if scale <= 0:
        raise ValueError(f"quantization scale must be positive, got {scale}")
    out: dict[str, int] = {}
    for term, weight in vector.items():
        impact = int(round(weight * scale))
        if impact > 0:
            out[term] = impact
    return out
