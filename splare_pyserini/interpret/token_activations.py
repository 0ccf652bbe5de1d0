"""Per-token latent weights: what SPLADE max pooling reads, kept token by token.

A SPLARE vector is ``max_t log(1 + ReLU(sae(h_t)))`` over the pooled tokens ``t``. Labelling a
latent ("which tokens fire it?") and explaining a hit ("which words of this document carry
the latents the query shares?") both need the weights before the max, with each token's
character span in the text. Same model, same forward pass, same mask as :meth:`SplareModel.pooled`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from splare_pyserini.modeling.model import SplareModel


@dataclass
class TokenActivations:
    """One text's pooled tokens: character spans and ``log(1+ReLU)`` latent weights (tokens x d_sae)."""

    text: str
    spans: list[tuple[int, int]]
    weights: torch.Tensor

    @property
    def tokens(self) -> list[str]:
        return [self.text[start:end] for start, end in self.spans]

    def pooled(self) -> torch.Tensor:
        """The max-pooled vector (d_sae,), before Top-K: equal to ``SplareModel.pooled`` for this text."""
        if not self.spans:
            return torch.zeros(self.weights.shape[-1])
        return self.weights.max(dim=0).values


def token_activations(model: SplareModel, texts: Sequence[str], max_length: int | None = None) -> list[TokenActivations]:
    """Token-level weights for ``texts`` (one batch; no gradients)."""
    backbone, sae = model.backbone, model.sae
    features = backbone.preprocess(list(texts), max_length=max_length, return_offsets_mapping=True)
    offsets = features.pop("offset_mapping")
    features = {k: v.to(model.device) for k, v in features.items()}
    model.encoder.eval()
    with torch.inference_mode():
        latents = sae(backbone(features))
    weights = torch.log1p(torch.relu(latents["token_embeddings"].float())).cpu()
    mask = latents["attention_mask"].bool().cpu()  # pooled tokens: no padding, no BOS
    out = []
    for row, text in enumerate(texts):
        keep = mask[row].nonzero().flatten()
        spans = [(int(a), int(b)) for a, b in offsets[row][keep].tolist()]
        out.append(TokenActivations(text, spans, weights[row][keep].clone()))
    return out


def iter_token_activations(model: SplareModel, texts: Sequence[str], batch_size: int = 16,
                           max_length: int | None = None) -> Iterator[TokenActivations]:
    """:func:`token_activations` over batches, in input order."""
    for start in range(0, len(texts), batch_size):
        yield from token_activations(model, texts[start: start + batch_size], max_length=max_length)
