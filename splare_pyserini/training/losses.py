"""SPLARE's training loss: sentence-transformers' SpladeLoss with Top-K applied as at inference.

The ranking losses (``SparseMultipleNegativesRankingLoss`` = InfoNCE with in-batch and
hard negatives, ``SparseMarginMSELoss``, ``SparseDistillKLDivLoss``) and the FLOPS
regularizer come from sentence-transformers unchanged. What SPLARE adds is the Top-K of
the paper: queries keep their ``query_top_k`` strongest latents and documents their
``doc_top_k`` before scoring, exactly as the index will see them, so training optimizes
the vectors that are actually retrieved with. Gradients flow through the kept entries.
The FLOPS terms see the same Top-K'd vectors. Mean active latents per query and per
document are kept for logging (:class:`ActiveLatentsCallback`).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.sparse_encoder.losses import SpladeLoss
from transformers import TrainerCallback

from splare_pyserini.modeling.sparse_vectors import top_k


class SplareLoss(SpladeLoss):
    """``SpladeLoss`` + Top-K per side (None keeps every latent) + active-latent statistics."""

    def __init__(self, model, loss, document_regularizer_weight: float, query_regularizer_weight: float | None = None,
                 query_top_k: int | None = 40, doc_top_k: int | None = 400, **kwargs) -> None:
        super().__init__(model, loss, document_regularizer_weight, query_regularizer_weight, **kwargs)
        self.query_top_k = query_top_k
        self.doc_top_k = doc_top_k
        self.stats: dict[str, list[float]] = {}

    def forward(self, sentence_features: Iterable[dict[str, torch.Tensor]],
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        embeddings = embed_columns(self.model, sentence_features, separate_first=True)
        queries = top_k(embeddings[0], self.query_top_k)
        documents = [top_k(e, self.doc_top_k) for e in embeddings[1:]]
        self._record(queries, torch.cat(documents))

        losses: dict[str, torch.Tensor] = {}
        base = self.loss.compute_loss_from_embeddings([queries, *documents], labels)
        losses.update(base if isinstance(base, dict) else {"base_loss": base})
        losses["document_regularizer_loss"] = (
            self.document_regularizer.compute_loss_from_embeddings(torch.cat(documents)) * self.document_regularizer_weight
        )
        if self.query_regularizer_weight is not None:
            losses["query_regularizer_loss"] = (
                self.query_regularizer.compute_loss_from_embeddings(queries) * self.query_regularizer_weight
            )
        return losses

    def _record(self, queries: torch.Tensor, documents: torch.Tensor) -> None:
        with torch.no_grad():
            for name, value in (("active_latents_query", (queries > 0).sum(-1).float().mean()),
                                ("active_latents_doc", (documents > 0).sum(-1).float().mean())):
                self.stats.setdefault(name, []).append(float(value))

    def pop_stats(self) -> dict[str, float]:
        """Means since the last call (what a log line reports)."""
        out = {name: sum(values) / len(values) for name, values in self.stats.items() if values}
        self.stats = {}
        return out

    def get_config_dict(self):
        return {**super().get_config_dict(), "query_top_k": self.query_top_k, "doc_top_k": self.doc_top_k}


class ActiveLatentsCallback(TrainerCallback):
    """Adds the loss's mean active latents per query/doc to every log entry (and the trainer's log history)."""

    def __init__(self, loss: SplareLoss) -> None:
        self.loss = loss

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None and "loss" in logs:
            stats = self.loss.pop_stats()
            logs.update(stats)
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1].update(stats)
