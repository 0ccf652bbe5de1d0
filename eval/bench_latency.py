"""Query latency and index size: SPLARE impact search vs Pyserini BM25, same corpus, same run.

    python -m eval.bench_latency --run-dir runs/demo-medline --dataset medline [--out eval/results/latency]

Reads what ``python -m eval.beir`` left in ``RUN_DIR/work/DATASET`` (both indexes and the
encoded queries). Reports, per system: search-only latency per query (p50/p95 over
``--repeats`` passes, one query at a time, 1 thread) through Pyserini's Python API (SPLARE through
:class:`~splare_pyserini.lucene.impact_searcher.SplareImpactSearcher`, one Java call per query, and, as
``splare-pyserini-stock``, through Pyserini's own ``LuceneImpactSearcher``, one call per term) and
through the Java searcher alone (the query already built as a Java object: what Lucene
costs, without Pyserini's per-term Python-to-Java calls), throughput (QPS) of Pyserini's
``batch_search`` with 1 and 2 threads, and index size on disk; for SPLARE also the query
encoding latency (p50/p95). Both searchers run in this process on the same JVM.

``--hybrid`` (with ``--no-stored-fields``): the one-index hybrid (``eval.beir``'s ``hybrid-index``,
rebuilt storing ids only) is timed beside the ids-only SPLARE and BM25 indexes, with its ratios to
BM25 (``hybrid_index_over_bm25_no_stored_fields``; ``hybrid-index_p50_ratio`` per depth, the depth
sweep then running on the ids-only indexes).

``--depths 10 100 1000``: search p50 at each result depth k and the hits each system
returns there, plotted (``latency.DATASET.depth.png``). On a small collection BM25 matches
only the documents sharing a word with the query, while nearly every document shares some
latent with a SPLARE query, so at k=1000 SPLARE returns more hits, and each returned hit
costs a stored-document read and a Python object: the sweep shows the ratio at equal work.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from splare_pyserini.lucene import java_env
from splare_pyserini.lucene.impact_searcher import java_impact_query, search_java_query


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class CachedVectors:
    """Pre-encoded query vectors, so that search timings exclude query encoding."""

    def __init__(self, path: Path) -> None:
        self.vectors = {}
        for line in open(path, encoding="utf-8"):
            row = json.loads(line)
            self.vectors[row["contents"]] = row["vector"]

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        return self.vectors[text]


def java_search(name: str, searcher):
    """The system's call into Java alone, its query already a Java object: Anserini's own
    ``search`` for BM25 and Pyserini's stock impact searcher, :func:`search_java_query` for ours."""
    if name in ("bm25-flat", "splare-pyserini-stock"):
        return lambda built, k: searcher.object.search(built, k)
    return lambda built, k: search_java_query(searcher.object, built, k)


def time_each(fn, queries: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        for q in queries:
            start = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - start)
    return times


def qps(searcher, queries: list[str], threads: int, hits: int) -> float:
    qids = [str(i) for i in range(len(queries))]
    start = time.perf_counter()
    searcher.batch_search(queries, qids, k=hits, threads=threads)
    return len(queries) / (time.perf_counter() - start)


def depth_sweep(searchers: dict, java_queries: dict, queries: list[str], depths: list[int],
                repeats: int) -> dict[str, dict]:
    """Per depth k and system: mean hits returned, search p50 (ms) through Pyserini's API and
    through the Java searcher alone (the query already a Java object), and each impact system's
    p50 over BM25's (``p50_ratio``: SPLARE's; ``hybrid-index_p50_ratio``: the one-index hybrid's)."""
    sweep = {}
    for k in sorted(set(depths)):
        row = {}
        for name, searcher in searchers.items():
            row[f"{name}_mean_hits"] = round(statistics.mean(len(searcher.search(q, k=k)) for q in queries), 1)
            times = time_each(lambda q, s=searcher: s.search(q, k=k), queries, repeats)
            built = java_queries[name]
            call = java_search(name, searcher)
            java_times = time_each(lambda q, b=built: call(b[q], k), queries, repeats)
            row[f"{name}_p50_ms"] = round(1000 * statistics.median(times), 3)
            row[f"{name}_java_p50_ms"] = round(1000 * statistics.median(java_times), 3)
        for name in searchers:
            if name != "bm25-flat":
                prefix = "" if name == "splare" else f"{name}_"
                row[f"{prefix}p50_ratio"] = round(row[f"{name}_p50_ms"] / row["bm25-flat_p50_ms"], 2)
                row[f"{prefix}java_p50_ratio"] = round(row[f"{name}_java_p50_ms"] / row["bm25-flat_java_p50_ms"], 2)
        sweep[str(k)] = row
    return sweep


def plot_depths(sweep: dict[str, dict], dataset: str, path: Path) -> None:
    from eval.plotting import figure, save

    depths = [int(k) for k in sweep]
    fig, ax = figure()
    for name, label in (("splare", "SPLARE"), ("splare-pyserini-stock", "SPLARE, a Java call per term"),
                        ("bm25-flat", "BM25 (flat)"), ("hybrid-index", "hybrid index")):
        if f"{name}_p50_ms" not in sweep[str(depths[0])]:
            continue
        ax.plot(depths, [sweep[str(k)][f"{name}_p50_ms"] for k in depths], marker="o", label=label)
        ax.plot(depths, [sweep[str(k)][f"{name}_java_p50_ms"] for k in depths], marker=".", linestyle="--",
                label=f"{label}, Java searcher alone")
    for k in depths:
        ax.annotate(f"{sweep[str(k)]['p50_ratio']}x", (k, sweep[str(k)]["splare_p50_ms"]), fontsize=7,
                    textcoords="offset points", xytext=(0, 5), ha="center")
    ax.set_xscale("log")
    ax.set_yscale("log")
    save(fig, ax, path, "result depth k", "search p50 (ms)", f"{dataset}: search latency vs depth")


def minimal_indexes(work: Path) -> tuple[Path, Path]:
    """SPLARE and BM25 indexes of the same inputs with nothing stored but the ids: what stored
    fields cost per hit (Anserini reads each hit's stored document) is then out of both timings.
    BM25 uses Anserini's default (English) analyzer here."""
    from splare_pyserini.lucene.pyserini_cli import index_bm25, index_impact

    splare, bm25 = work / "splare-index-nostore", work / "bm25-index-nostore"
    if not any(splare.glob("segments_*")):
        index_impact(work / "splare-vectors", splare, store_raw=False)
    if not any(bm25.glob("segments_*")):
        index_bm25(work / "bm25-collection", bm25, store=False)
    return splare, bm25


def minimal_hybrid_index(work: Path) -> Path:
    """The one-index hybrid with nothing stored but the ids (its stored vectors, words included, are
    the largest stored documents here, and Anserini reads one per hit)."""
    from splare_pyserini.lucene.pyserini_cli import index_impact

    index = work / "hybrid-index-nostore"
    if not any(index.glob("segments_*")):
        index_impact(work / "hybrid-vectors", index, store_raw=False)
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--encoder", default=None, help="model for query-encoding latency (default: embedded)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--depths", type=int, nargs="*", default=[],
                        help="also time search p50 at these result depths (e.g. 10 100 1000) and plot it")
    parser.add_argument("--hybrid", action="store_true",
                        help="also time the one-index hybrid (RUN_DIR/work/DATASET/hybrid-index, hybrid-queries)")
    parser.add_argument("--no-stored-fields", action="store_true",
                        help="also time both systems on indexes without stored raw text/vectors, positions or "
                             "doc vectors (built once from the same inputs, kept in the work dir)")
    args = parser.parse_args(argv)
    if args.hybrid and not args.no_stored_fields:
        parser.error("--hybrid is timed on indexes that store ids only: add --no-stored-fields")
    java_env.configure()
    from pyserini.search.lucene import LuceneImpactSearcher, LuceneSearcher

    from splare_pyserini.lucene.impact_searcher import SplareImpactSearcher
    from splare_pyserini.lucene.query_encoders import SplareQueryEncoder

    work = Path(args.run_dir) / "work" / args.dataset
    queries = [line.rstrip("\n").split("\t", 1)[1] for line in open(work / "splare-queries" / "topics.tsv", encoding="utf-8")]
    cached = CachedVectors(work / "splare-queries" / "queries.jsonl")
    result = {"command": "python -m eval.bench_latency " + " ".join(argv or sys.argv[1:]), "queries": len(queries),
              "hits": args.hits, "systems": {}}
    # the same queries against every index pair (min_idf=-1: no index-dependent filtering)
    java_queries = {"splare": {q: java_impact_query(cached.encode(q)) for q in queries}, "bm25-flat": {q: q for q in queries}}
    java_queries["splare-pyserini-stock"] = java_queries["splare"]
    if args.hybrid:
        hybrid_cached = CachedVectors(work / "hybrid-queries" / "queries.jsonl")
        java_queries["hybrid-index"] = {q: java_impact_query(hybrid_cached.encode(q)) for q in queries}
    pairs = [("", work / "splare-index", work / "bm25-index")]
    if args.no_stored_fields:
        pairs.append((" (no stored fields)", *minimal_indexes(work)))
    for suffix, splare_index, bm25_index in pairs:
        splare = SplareImpactSearcher(str(splare_index), cached, min_idf=-1)
        bm25 = LuceneSearcher(str(bm25_index))
        stock = LuceneImpactSearcher(str(splare_index), cached, min_idf=-1)  # one Java call per query term
        systems = {"splare": (splare, splare_index), "splare-pyserini-stock": (stock, splare_index),
                   "bm25-flat": (bm25, bm25_index)}
        if args.hybrid and suffix:  # ids only, as the pair's other indexes
            hybrid_index = minimal_hybrid_index(work)
            systems["hybrid-index"] = (SplareImpactSearcher(str(hybrid_index), hybrid_cached, min_idf=-1), hybrid_index)
        for name, (searcher, index) in systems.items():
            hits_returned = [len(searcher.search(q, k=args.hits)) for q in queries]  # also the warm-up (JIT, page cache)
            times = time_each(lambda q, s=searcher: s.search(q, k=args.hits), queries, args.repeats)
            built = java_queries[name]
            call = java_search(name, searcher)
            java_times = time_each(lambda q, b=built: call(b[q], args.hits), queries, args.repeats)
            result["systems"][name + suffix] = {
                "search_p50_ms": round(1000 * statistics.median(times), 3),
                "search_p95_ms": round(1000 * percentile(times, 0.95), 3),
                "java_search_p50_ms": round(1000 * statistics.median(java_times), 3),
                "java_search_p95_ms": round(1000 * percentile(java_times, 0.95), 3),
                "qps_1_thread": round(qps(searcher, queries, 1, args.hits), 1),
                "qps_2_threads": round(qps(searcher, queries, 2, args.hits), 1),
                "mean_hits_returned": round(statistics.mean(hits_returned), 1),
                "index_bytes": dir_size(index),
            }
        if args.depths and (not suffix) == (not args.hybrid):  # the hybrid is swept on the ids-only indexes
            result["depth_sweep"] = depth_sweep({n: v[0] for n, v in systems.items()}, java_queries, queries,
                                                args.depths, args.repeats)
        for searcher, _ in systems.values():
            searcher.close()
        b = result["systems"]["bm25-flat" + suffix]
        key = suffix.strip(" ()").replace(" ", "_")
        for name in systems:
            if name == "bm25-flat":
                continue
            s = result["systems"][name + suffix]
            label = "splare" if name == "splare" else name.replace("-", "_")
            ratios = result.setdefault(f"{label}_over_bm25" + ("_" + key if key else ""), {})
            ratios.update({"search_p50": round(s["search_p50_ms"] / b["search_p50_ms"], 2),
                           "java_search_p50": round(s["java_search_p50_ms"] / b["java_search_p50_ms"], 2),
                           "index_size": round(s["index_bytes"] / b["index_bytes"], 2)})
    encoder = SplareQueryEncoder(args.encoder)
    encoder.encode(queries[0])
    times = time_each(encoder.encode, queries, 1)
    result["systems"]["splare"]["query_encode_p50_ms"] = round(1000 * statistics.median(times), 1)
    result["systems"]["splare"]["query_encode_p95_ms"] = round(1000 * percentile(times, 0.95), 1)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"latency.{args.dataset}.json").write_text(json.dumps(result, indent=2) + "\n")
        if args.depths:
            plot_depths(result["depth_sweep"], args.dataset, Path(args.out) / f"latency.{args.dataset}.depth.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
