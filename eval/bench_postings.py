"""Posting-list length distribution of the SPLARE index vs Pyserini's BM25 index (paper figure 3, right).

    python -m eval.bench_postings --run-dir runs/demo-medline --dataset medline [--out eval/results/postings]

Reads both indexes that ``python -m eval.beir`` built in ``RUN_DIR/work/DATASET`` with
Pyserini's ``LuceneIndexReader`` and reports, per index: number of terms, document
frequency (posting-list length) quantiles, and the share of all postings held by the 1%
longest lists (what makes a query slow). Writes ``postings.DATASET.json`` and a PNG of
the sorted posting-list lengths (rank vs length, log-log).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from splare_pyserini.lucene import java_env


def posting_lengths(index: Path) -> list[int]:
    from pyserini.index.lucene import LuceneIndexReader

    reader = LuceneIndexReader(str(index))
    return sorted((term.df for term in reader.terms()), reverse=True)


def summary(lengths: list[int]) -> dict:
    total = sum(lengths)
    top = max(1, len(lengths) // 100)
    quantile = lambda q: lengths[min(len(lengths) - 1, int((1 - q) * (len(lengths) - 1)))]  # noqa: E731
    return {"terms": len(lengths), "postings": total, "max_df": lengths[0], "p50_df": quantile(0.5),
            "p90_df": quantile(0.9), "p99_df": quantile(0.99),
            "share_of_postings_in_top_1pct_lists": round(sum(lengths[:top]) / total, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    java_env.configure()
    from eval.plotting import figure, save

    work = Path(args.run_dir) / "work" / args.dataset
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"command": "python -m eval.bench_postings " + " ".join(argv or sys.argv[1:]), "indexes": {}}
    fig, ax = figure()
    for name, index in (("SPLARE latents", "splare-index"), ("BM25 words", "bm25-index")):
        lengths = posting_lengths(work / index)
        result["indexes"][name] = summary(lengths)
        ax.loglog(range(1, len(lengths) + 1), lengths, label=f"{name} ({len(lengths)} terms)")
    save(fig, ax, out / f"postings.{args.dataset}.png", "term rank", "posting-list length (df)",
         f"{args.dataset}: posting-list lengths")
    (out / f"postings.{args.dataset}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
