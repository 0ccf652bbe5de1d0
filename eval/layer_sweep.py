"""Zero-shot SPLARE quality per SAE (layer / width), on a small dev collection, with a PNG plot.

    python -m eval.layer_sweep --backbone gguf:gemma3-270m-q4-k-m --sae-dirs OUT/L6_w8192 OUT/L9_w8192 \\
        --corpus dev/corpus.jsonl --queries dev/queries.jsonl --qrels dev/qrels.tsv --out eval/results/layer-sweep

Each SAE directory is a sae-lens directory whose ``cfg.json`` names its hook
(``blocks.L.hook_resid_post``); the backbone is cut at that layer. Scores are the exact
impact dot product Lucene computes (quantized query x quantized document), ranked in
memory, scored with pytrec_eval (nDCG@10, R@100). Use a dev collection, never a test set.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

from splare_pyserini.modeling.model import SplareConfig, SplareModel
from splare_pyserini.io.readers import read_corpus, read_qrels, read_topics
from splare_pyserini.modeling.sparse_vectors import latent_index

logger = logging.getLogger("eval.layer_sweep")


def impact_matrix(vectors: list[dict[str, int]], width: int) -> torch.Tensor:
    matrix = torch.zeros(len(vectors), width)
    for row, vector in enumerate(vectors):
        for name, value in vector.items():
            if name.startswith("f"):
                matrix[row, latent_index(name)] = value
    return matrix


def evaluate_sae(backbone: str, sae_dir: Path, docs, queries, qrels, batch_size: int, torch_dtype: str) -> dict:
    import pytrec_eval

    hook = json.loads((sae_dir / "cfg.json").read_text())["metadata"]["hook_name"]
    layer = int(hook.split(".")[1])
    model = SplareModel.build(backbone, layer, sae_path=str(sae_dir), config=SplareConfig(), torch_dtype=torch_dtype)
    start = time.time()
    doc_vectors = model.encode_impacts([d.text for d in docs], "document", batch_size=batch_size)
    seconds = time.time() - start
    query_vectors = model.encode_impacts([q.text for q in queries], "query", batch_size=batch_size)
    width = model.sae.d_sae
    scores = impact_matrix(query_vectors, width) @ impact_matrix(doc_vectors, width).T
    top = torch.topk(scores, min(100, scores.shape[1]), dim=1)
    run = {q.docid: {docs[j].docid: float(s) for s, j in zip(vals.tolist(), idx.tolist()) if s > 0}
           for q, vals, idx in zip(queries, top.values, top.indices)}
    measures = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    n = len(qrels)
    return {
        "sae": str(sae_dir), "layer": layer, "d_sae": width,
        "ndcg_cut_10": sum(m["ndcg_cut_10"] for m in measures.values()) / n,
        "recall_100": sum(m["recall_100"] for m in measures.values()) / n,
        "doc_encode_seconds": round(seconds, 1),
        "mean_doc_latents": sum(map(len, doc_vectors)) / len(doc_vectors),
        "mean_query_latents": sum(map(len, query_vectors)) / len(query_vectors),
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for width in sorted({r["d_sae"] for r in rows}):
        pts = sorted((r["layer"], r["ndcg_cut_10"]) for r in rows if r["d_sae"] == width)
        ax.plot(*zip(*pts), marker="o", label=f"SAE width {width}")
    ax.set_xlabel("layer l (blocks.l.hook_resid_post)")
    ax.set_ylabel("nDCG@10 (dev, zero-shot)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="gguf:gemma3-270m-q4-k-m")
    parser.add_argument("--torch-dtype", default="bfloat16")
    parser.add_argument("--sae-dirs", nargs="+", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--max-queries", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    docs = list(read_corpus(args.corpus))
    qrels = read_qrels(args.qrels)
    queries = [q for q in read_topics(args.queries) if q.docid in qrels]
    queries = queries[:: max(1, len(queries) // args.max_queries)][: args.max_queries]  # spread over the file
    qrels = {q.docid: qrels[q.docid] for q in queries}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = {}
    setup = {"docs": len(docs), "queries": len(queries), "backbone": args.backbone, "torch_dtype": args.torch_dtype}
    if (out / "results.json").exists():  # rows of SAEs already measured on the same dev set and backbone are kept
        old = json.loads((out / "results.json").read_text())
        if {key: old.get(key, parser.get_default(key)) for key in setup} == setup:  # files without backbone/dtype: defaults
            previous = {row["sae"]: row for row in old["rows"]}
    rows = []
    for sae_dir in map(Path, args.sae_dirs):
        if str(sae_dir) in previous:
            rows.append(previous[str(sae_dir)])
            continue
        rows.append(evaluate_sae(args.backbone, sae_dir, docs, queries, qrels, args.batch_size, args.torch_dtype))
        logger.info("%s", rows[-1])
        (out / "results.json").write_text(json.dumps({"command": "python -m eval.layer_sweep " + " ".join(argv or sys.argv[1:]),
                                                      **setup, "rows": rows}, indent=2))
    plot(rows, out / "layer_sweep.png")
    for r in rows:
        print(f"layer {r['layer']:>2}  width {r['d_sae']:>6}  nDCG@10 {r['ndcg_cut_10']:.4f}  R@100 {r['recall_100']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
