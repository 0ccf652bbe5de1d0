"""Pyserini's encoder seams for SPLARE.

``SplareDocumentEncoder.encode(texts, titles=None) -> list[dict[str, int]]`` and
``SplareQueryEncoder.encode(text) -> dict[str, int]`` are the duck-typed interfaces of
``pyserini.encode.DocumentEncoder``/``QueryEncoder``, so
``LuceneImpactSearcher(index, query_encoder=SplareQueryEncoder(model))`` just works.
"""
from __future__ import annotations

import re

from splare_pyserini.modeling.model import SplareModel

_WHITESPACE = re.compile(r"\s+")


def normalize_query_text(text: str) -> str:
    """Collapse whitespace (tabs, newlines) so a query survives TSV topics and Pyserini's cache lookup."""
    return _WHITESPACE.sub(" ", text).strip()


def _as_model(model: SplareModel | str | None, device: str) -> SplareModel:
    return model if isinstance(model, SplareModel) else SplareModel.from_pretrained(model, device=device)


class SplareDocumentEncoder:
    """Documents -> integer impacts ``{latent: int}`` (doc Top-K and scale from the model config)."""

    def __init__(self, model: SplareModel | str | None = None, device: str = "cpu", top_k: int | None = None,
                 batch_size: int = 16) -> None:
        self.model = _as_model(model, device)
        self.top_k = top_k
        self.batch_size = batch_size

    def encode(self, texts: list[str], titles: list[str] | None = None, **kwargs) -> list[dict[str, int]]:
        if titles is not None:
            texts = [f"{t} {x}".strip() for t, x in zip(titles, texts)]
        return self.model.encode_impacts(texts, "document", batch_size=self.batch_size, top_k_override=self.top_k)


class SplareQueryEncoder:
    """A query -> integer impacts ``{latent: int}`` (query Top-K and scale from the model config)."""

    def __init__(self, model: SplareModel | str | None = None, device: str = "cpu", top_k: int | None = None) -> None:
        self.model = _as_model(model, device)
        self.top_k = top_k

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        return self.model.encode_impacts([normalize_query_text(text)], "query", top_k_override=self.top_k)[0]


class SplareHybridQueryEncoder(SplareQueryEncoder):
    """A query -> its latents and its analyzed words, weighted so that a hybrid index
    (``encode --hybrid``) scores ``alpha * BM25 + (1 - alpha) * SPLARE`` (:mod:`splare_pyserini.lucene.hybrid`).
    ``alpha`` defaults to the model's ``hybrid_alpha``; ``language`` picks Pyserini's analyzer."""

    def __init__(self, model: SplareModel | str | None = None, device: str = "cpu", top_k: int | None = None,
                 alpha: float | None = None, language: str = "en") -> None:
        from splare_pyserini.lucene.hybrid import WordAnalyzer, check_alpha

        super().__init__(model, device, top_k)
        self.alpha = check_alpha(self.model.config.hybrid_alpha if alpha is None else alpha)
        self.analyzer = WordAnalyzer(language)

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        from splare_pyserini.lucene.hybrid import hybrid_query

        text = normalize_query_text(text)
        return hybrid_query(super().encode(text), self.analyzer.term_counts(text), self.alpha,
                            self.model.config.quantization_scale)
