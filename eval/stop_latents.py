"""Stop latents: drop the near-always-on latents from cached vectors, re-index, re-search, re-score.

    python -m eval.stop_latents --run-dir runs/eval-default --dataset medline --dataset scifact \\
        --labels splare-gemma3-270m --densities 0.2 0.1 0.05 0.02 --out eval/results/stop-latents

For each density threshold D, the latents active on >= D of the labelling corpus' tokens
(``latents.jsonl`` of ``--labels``) are removed from the documents and queries an
``eval.beir`` run encoded (``RUN_DIR/work/<dataset>/splare-vectors`` and ``splare-queries``),
which is exactly what ``SplareConfig.stop_latents`` does at encoding time (it filters after
Top-K); then Pyserini indexes and searches and trec_eval scores, as in ``eval.beir``. Row
``none`` is the same pipeline with nothing removed. Also reports postings and index size.
Choose D on a dev collection, not on the test collections.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from splare_pyserini.lucene import pyserini_cli as lucene
from splare_pyserini.interpret.labeling import stop_latents
from splare_pyserini.modeling.latent_labels import LatentLabels
from splare_pyserini.modeling.model import resolve_model_dir
from splare_pyserini.modeling.sparse_vectors import PLACEHOLDER_TERM, latent_name
from splare_pyserini.lucene.trec_eval import trec_eval

METRICS = ["ndcg_cut_10", "recall_100", "recall_1000"]


def filter_jsonl(source: Path, target: Path, stop: set[str], placeholder: bool) -> int:
    """Copy JSONL vectors without the ``stop`` latents; returns the postings left."""
    postings = 0
    with open(target, "w", encoding="utf-8") as out:
        for line in open(source, encoding="utf-8"):
            record = json.loads(line)
            vector = {n: w for n, w in record["vector"].items() if n not in stop}
            if placeholder and not vector:
                vector = {PLACEHOLDER_TERM: 1}  # every document stays findable
            record["vector"] = vector
            postings += len(vector)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return postings


def evaluate(run_dir: Path, dataset: str, stop: set[str], work: Path) -> dict:
    src = run_dir / "work" / dataset
    shutil.rmtree(work, ignore_errors=True)
    (work / "vectors").mkdir(parents=True)
    (work / "queries").mkdir()
    postings = sum(filter_jsonl(part, work / "vectors" / part.name, stop, placeholder=True)
                   for part in sorted((src / "splare-vectors").glob("*.jsonl")))
    filter_jsonl(src / "splare-queries" / "queries.jsonl", work / "queries" / "queries.jsonl", stop, placeholder=False)
    shutil.copyfile(src / "splare-queries" / "topics.tsv", work / "queries" / "topics.tsv")
    lucene.index_impact(work / "vectors", work / "index")
    start = time.perf_counter()
    lucene.search_impact(work / "index", work / "queries" / "queries.jsonl", work / "queries" / "topics.tsv",
                         work / "run.txt")
    seconds = time.perf_counter() - start
    scores = trec_eval(src / "qrels.test.trec", work / "run.txt", METRICS)
    size = sum(p.stat().st_size for p in (work / "index").rglob("*") if p.is_file())
    return {**scores, "postings": postings, "index_mb": round(size / 2**20, 2), "search_cli_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="an eval.beir --out directory (its work/ is reused)")
    parser.add_argument("--dataset", action="append", required=True)
    parser.add_argument("--labels", default=None, help="model directory (or packaged name) holding latents.jsonl")
    parser.add_argument("--densities", type=float, nargs="+", default=[0.2, 0.1, 0.05, 0.02, 0.01])
    parser.add_argument("--out", required=True)
    parser.add_argument("--work", default=None, help="scratch folder (default: RUN_DIR/stop-latents)")
    args = parser.parse_args(argv)
    labels = LatentLabels.load(resolve_model_dir(args.labels))
    if labels is None:
        parser.error(f"{resolve_model_dir(args.labels)}: no latents.jsonl; run python -m splare_pyserini.label_latents")
    run_dir, out = Path(args.run_dir), Path(args.out)
    work = Path(args.work) if args.work else run_dir / "stop-latents"
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    for dataset in args.dataset:
        rows = []
        for density in [None, *args.densities]:
            stop = {latent_name(i) for i in stop_latents(labels, density)} if density else set()
            row = {"density": density, "stop_latents": len(stop),
                   **evaluate(run_dir, dataset, stop, work / f"{dataset}-{density or 'none'}")}
            print(dataset, row, flush=True)
            rows.append(row)
        results[dataset] = rows
    command = "python -m eval.stop_latents " + " ".join(argv or sys.argv[1:])
    (out / "results.json").write_text(json.dumps({"command": command, "labels": labels.info, "results": results},
                                                 indent=2) + "\n", encoding="utf-8")
    lines = [f"Command: `{command}`", ""]
    for dataset, rows in results.items():
        lines += [f"### {dataset}", "", "| stop if density >= | stop latents | nDCG@10 | R@100 | R@1000 | postings | index MB |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['density'] or 'none'} | {r['stop_latents']} | {r['ndcg_cut_10']:.4f} | {r['recall_100']:.4f} | "
                  f"{r['recall_1000']:.4f} | {r['postings']} | {r['index_mb']} |" for r in rows]
        lines.append("")
    (out / "results.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return 0
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for dataset, rows in results.items():
        ax.plot([r["stop_latents"] for r in rows], [r["ndcg_cut_10"] for r in rows], marker="o", label=dataset)
    ax.set_xlabel("stop latents removed (densest first)")
    ax.set_ylabel("nDCG@10")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "stop_latents.png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
