"""A tiny stand-in SPLARE model for benchmarks of the machinery (not of retrieval quality).

    python -m eval.tiny_model DIR      # writes DIR/gemma, DIR/sae and the model DIR/model

The same model as the tests' ``tiny_model_dir`` fixture (:mod:`splare_pyserini.modeling.stand_ins`):
a random 4-layer Gemma 3 (hidden size 64, the real Gemma tokenizer) cut at layer 2, a random sae-lens TopK SAE
with 512 latents, query/document Top-K 8/40. It encodes in milliseconds per document, so a
benchmark of memory or resumability can run a 50k-document corpus on a CPU.
"""
from __future__ import annotations

import sys
from pathlib import Path


def build_tiny_model(root: str | Path) -> Path:
    """Write the tiny stand-in under ``root`` and return its model directory ``root/model``.

    The model directory refers to its backbone by path (``root/gemma``), so keep ``root`` whole."""
    from splare_pyserini.modeling.model import SplareConfig, SplareModel
    from splare_pyserini.modeling.stand_ins import TINY_LAYER, build_tiny_gemma, build_tiny_sae

    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    backbone = build_tiny_gemma(root / "gemma")
    sae = build_tiny_sae(root / "sae")
    model = SplareModel.build(str(backbone), TINY_LAYER, sae_path=str(sae), config=SplareConfig(query_top_k=8, doc_top_k=40))
    model.save_pretrained(root / "model")
    return root / "model"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    print(build_tiny_model(sys.argv[1]))
