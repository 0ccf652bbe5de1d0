"""nDCG@10 against alpha (BM25's share) for the one-index hybrid and for normalized interpolation.

    python -m eval.hybrid_alpha --run-dir RUN_DIR --datasets squad-dev scifact medline cranfield \\
        --choose-on squad-dev --out eval/results/hybrid-alpha

``RUN_DIR`` is an ``eval.beir`` run directory that holds each dataset's hybrid index, SPLARE query
vectors and BM25/SPLARE runs (``work/<dataset>/``). For every alpha of the grid, the hybrid queries
are rebuilt from the cached SPLARE query vectors and searched in the hybrid index in-process
(Pyserini's ``LuceneImpactSearcher``, the Java call its CLI makes), and the two runs are fused with
Pyserini's normalized interpolation; nDCG@10 (pytrec_eval, unjudged-and-missing queries count 0,
as ``trec_eval -c``). The alpha of each method is chosen on ``--choose-on`` alone (a dev set, never
a test collection's qrels); the other datasets are shown to see where that choice lands.
Writes ``alpha.json``, ``alpha.md`` and ``alpha-<method>.png``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

logger = logging.getLogger("eval.hybrid_alpha")

GRID = [round(i / 20, 2) for i in range(21)]
METHODS = ("hybrid-index", "fusion-interp")


def mean_ndcg10(qrels: dict, run: dict) -> float:
    """Mean nDCG@10 over the judged queries; a judged query with no hit scores 0 (``trec_eval -c``)."""
    import pytrec_eval

    scores = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate({q: run[q] for q in run if q in qrels})
    return sum(s["ndcg_cut_10"] for s in scores.values()) / len(qrels)


def hybrid_index_curve(work: Path, scale: float, language: str, grid: list[float], hits: int = 100) -> dict:
    """{alpha: run} searching ``work/hybrid-index`` with queries rebuilt for each alpha (``hits`` deep:
    nDCG@10 reads the top 10; each returned hit costs a stored-document read)."""
    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.lucene.hybrid import WordAnalyzer, hybrid_query
    from splare_pyserini.lucene.impact_searcher import PreEncodedQueries, search_encoded
    from splare_pyserini.modeling.sparse_vectors import PLACEHOLDER_TERM

    analyzer = WordAnalyzer(language)
    queries = [json.loads(line) for line in (work / "splare-queries" / "queries.jsonl").open(encoding="utf-8")]
    qids = [line.split("\t", 1)[0] for line in (work / "splare-queries" / "topics.tsv").open(encoding="utf-8")]
    words = [analyzer.term_counts(q["contents"]) for q in queries]
    searcher = LuceneImpactSearcher(str(work / "hybrid-index"), query_encoder=PreEncodedQueries(), min_idf=-1)
    runs = {}
    for alpha in grid:
        run = {}
        for qid, query, counts in zip(qids, queries, words):
            latents = {t: w for t, w in query["vector"].items() if t != PLACEHOLDER_TERM}
            vector = {t: w for t, w in hybrid_query(latents, counts, alpha, scale).items() if t in searcher.idf}
            run[qid] = {h.docid: float(h.score) for h in search_encoded(searcher, vector, hits)} if vector else {}
        runs[alpha] = run
    return runs


def interpolation_curve(bm25_run: Path, splare_run: Path, grid: list[float], work: Path) -> dict:
    from splare_pyserini.lucene.pyserini_cli import fuse_interpolation
    from splare_pyserini.lucene.trec_eval import read_run

    runs = {}
    for alpha in grid:
        fused = fuse_interpolation([bm25_run, splare_run], work / f".interp-{alpha}.txt", alpha)
        runs[alpha] = read_run(fused)
        fused.unlink()
    return runs


def plot(curves: dict, chosen: dict, dev: str, out: Path) -> list[Path]:
    """One PNG per method: nDCG@10 against alpha, one line per dataset, the dev choice dashed."""
    from eval.plotting import figure, save

    paths = []
    for method in METHODS:
        fig, ax = figure((6, 3.8))
        for dataset, by_method in curves.items():
            points = by_method[method]
            ax.plot([float(a) for a in points], list(points.values()), marker=".", label=dataset,
                    linewidth=2.5 if dataset == dev else 1.2)
        ax.axvline(chosen[method], color="grey", linestyle="--", linewidth=1, label=f"chosen on {dev}")
        paths.append(out / f"alpha-{method}.png")
        save(fig, ax, paths[-1], "alpha (BM25's share: 0 = SPLARE alone, 1 = BM25 alone)", "nDCG@10",
             f"{method}: alpha = {chosen[method]:g}")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--run-dir", required=True, help="eval.beir run directory")
    parser.add_argument("--datasets", nargs="+", required=True, help="dataset names under RUN_DIR/work")
    parser.add_argument("--choose-on", required=True, help="the dev dataset alpha is chosen on")
    parser.add_argument("--encoder", default=None, help="the SPLARE model of the run (its quantization scale)")
    parser.add_argument("--language", default="en", help="analyzer of the hybrid words")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.choose_on not in args.datasets:
        parser.error(f"--choose-on {args.choose_on} must be one of --datasets")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from splare_pyserini.lucene import java_env
    from splare_pyserini.io.readers import read_qrels

    java_env.configure()
    scale = _scale(args.encoder)
    run_dir, out = Path(args.run_dir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {}
    for dataset in args.datasets:
        work = run_dir / "work" / dataset
        qrels = read_qrels(work / "qrels.test.trec")
        runs = {"hybrid-index": hybrid_index_curve(work, scale, args.language, GRID),
                "fusion-interp": interpolation_curve(run_dir / f"run.{dataset}.bm25-flat.txt",
                                                     run_dir / f"run.{dataset}.splare.txt", GRID, out)}
        curves[dataset] = {m: {str(a): round(mean_ndcg10(qrels, r), 4) for a, r in runs[m].items()} for m in METHODS}
        logger.info("%s: %s", dataset, curves[dataset])
    chosen = {m: float(max(curves[args.choose_on][m].items(), key=lambda kv: (kv[1], -float(kv[0])))[0])
              for m in METHODS}
    (out / "alpha.json").write_text(json.dumps({"chosen_on": args.choose_on, "chosen": chosen, "grid": GRID,
                                                "ndcg_cut_10": curves}, indent=1) + "\n", encoding="utf-8")
    lines = ["| dataset | method | alpha 0 (SPLARE) | best alpha (nDCG@10) | alpha 1 (BM25) | at the chosen alpha |",
             "|---|---|---|---|---|---|"]
    for dataset, by_method in curves.items():
        for method, points in by_method.items():
            best = max(points.items(), key=lambda kv: kv[1])
            lines.append(f"| {dataset} | {method} | {points['0.0']:.4f} | {best[0]} ({best[1]:.4f}) | "
                         f"{points['1.0']:.4f} | {points[str(chosen[method])]:.4f} |")
    (out / "alpha.md").write_text(f"alpha chosen on {args.choose_on}: {chosen}\n\n" + "\n".join(lines) + "\n",
                                  encoding="utf-8")
    plot(curves, chosen, args.choose_on, out)
    print((out / "alpha.md").read_text(encoding="utf-8"))
    return 0


def _scale(encoder: str | None) -> float:
    """The model's quantization scale, from its config alone (no weights loaded)."""
    from splare_pyserini.modeling.model import SPLARE_CONFIG, SplareConfig, resolve_model_dir

    config = json.loads((resolve_model_dir(encoder) / SPLARE_CONFIG).read_text(encoding="utf-8"))
    return SplareConfig.from_dict(config).quantization_scale


if __name__ == "__main__":
    sys.exit(main())
