"""Seismic vs exact Lucene vs BM25: latency at small depths, quality, build cost; a knob sweep.

    python -m eval.bench_seismic --run-dir runs/eval --dataset scifact --scale 10 --out eval/results/seismic

Reads what ``python -m eval.beir`` left in ``RUN_DIR/work/DATASET`` (SPLARE's vectors and encoded
queries, the BM25 collection, the judged qrels). Every system searches one query at a time on one
thread, indexes storing ids only, the same queries in the same process: BM25 (Pyserini's
``LuceneSearcher``), SPLARE exact (Lucene, :class:`~splare_pyserini.lucene.impact_searcher.SplareImpactSearcher`)
and SPLARE on Seismic at each ``--query-cuts`` x ``--heap-factors`` point (the index built once with
the shipped build knobs). Reports p50 per depth, nDCG@10 (pytrec_eval, from the k=10 runs), index
build seconds and bytes. ``--scale N`` repeats every document N times with new ids (``ID#r``) and
times the three again on that corpus (latency and agreement with exact Lucene only: the copies are
unjudged). ``chosen_on_this_set`` names the knobs a dev set picks: the fastest point at k=10 whose nDCG@10 is
within 0.005 of exact. ``--n-postings``/``--postings-shares``/``--summary-energies``/
``--centroid-fractions`` sweep build knobs too (an index per point of their product, built, searched
and removed in turn). PNGs: latency against depth, nDCG@10 against latency (the paper's figure 4).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path

from eval.bench_latency import dir_size, minimal_indexes, time_each
from eval.hybrid_alpha import mean_ndcg10
from splare_pyserini.lucene import java_env

DEPTHS = (10, 100)


def repeated_collection(src: Path, dst: Path, times: int) -> Path:
    """Every JSONL record of ``src`` (a folder) ``times`` times, ids ``ID#r`` (r > 0; r = 0 keeps the id)."""
    if dst.exists() and any(dst.iterdir()):
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    with open(dst / "part-00000.jsonl", "w", encoding="utf-8") as out:
        for part in sorted(src.glob("*.json*")):
            lines = open(part, encoding="utf-8").read().splitlines()
            for r in range(times):
                for line in lines:
                    record = json.loads(line)
                    record["id"] = record["id"] if r == 0 else f"{record['id']}#{r}"
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return dst


def repeated_qrels(qrels: dict, times: int) -> dict:
    """The qrels of a repeated collection: every copy ``ID#r`` of a judged document is judged as it is."""
    return {q: {(d if r == 0 else f"{d}#{r}"): rel for d, rel in docs.items() for r in range(times)}
            for q, docs in qrels.items()}


WARM_UP_CALLS = 1000  # Java's JIT needs about this many searches before its times settle


def timed(searcher_fn, qids: list[str], depths, repeats: int) -> dict:
    """p50 ms per depth and the k=10 run ({qid: {docid: score}}), one query at a time, after at
    least ``WARM_UP_CALLS`` untimed searches per depth (a 30-query set is passed over 34 times)."""
    row, run = {}, {}
    for k in depths:
        for _ in range(math.ceil(WARM_UP_CALLS / max(1, len(qids)))):  # warm-up, and the run
            for qid in qids:
                hits = searcher_fn(qid, k)
                if k == 10:
                    run[qid] = {h.docid: float(h.score) for h in hits}
        row[f"p50_ms@{k}"] = round(1000 * statistics.median(time_each(lambda q: searcher_fn(q, k), qids, repeats)), 3)
    return {"latency": row, "run": run}


def overlap10(run: dict, exact: dict) -> float:
    """Mean share of exact Lucene's top 10 that a run also returns in its top 10."""
    shares = [len(set(run.get(q, {})) & set(top)) / len(top) for q, top in exact.items() if top]
    return round(statistics.mean(shares), 4)


def build_points(swept: dict[str, list]) -> list[dict]:
    """Every build-knob point of the sweep: the product of the values given per knob
    (``{"n_postings": [1000, 4000], ...}``; the shipped ``SeismicConfig`` for knobs not swept)."""
    return [dict(zip(swept, values)) for values in itertools.product(*swept.values())]


def build_name(build: dict) -> str:
    """``seismic`` on the shipped build knobs, ``seismic[knob=v,...]`` for the knobs that differ."""
    from splare_pyserini.backends.seismic import SeismicConfig

    shipped = SeismicConfig()
    changed = ",".join(f"{knob}={value}" for knob, value in build.items() if getattr(shipped, knob) != value)
    return f"seismic[{changed}]" if changed else "seismic"


def system_name(build: dict, cut: int, heap: float) -> str:
    return f"{build_name(build)} cut={cut} heap={heap}"


def bench_corpus(name: str, splare_vectors: Path, splare_index: Path, bm25_index: Path, queries: dict, texts: dict,
                 qrels: dict | None, cuts, heaps, repeats: int, work: Path, builds: list[dict] | None = None) -> dict:
    from pyserini.search.lucene import LuceneSearcher

    from splare_pyserini.lucene.impact_searcher import PreEncodedQueries, SplareImpactSearcher, search_encoded
    from splare_pyserini.backends.seismic import SeismicSearcher, build_index

    from splare_pyserini.backends.seismic import SeismicConfig

    qids = sorted(queries)
    lucene = SplareImpactSearcher(str(splare_index), PreEncodedQueries(), min_idf=-1)
    bm25 = LuceneSearcher(str(bm25_index))
    result = {"lucene_index_bytes": dir_size(splare_index), "bm25_index_bytes": dir_size(bm25_index),
              "seismic_builds": {}, "systems": {}}
    runs = {"bm25-flat": timed(lambda q, k: bm25.search(texts[q], k=k), qids, DEPTHS, repeats),
            "splare-lucene": timed(lambda q, k: search_encoded(lucene, queries[q], k), qids, DEPTHS, repeats)}
    shipped = SeismicConfig()
    for i, build in enumerate(builds or [{}]):
        seismic_dir = work / f"seismic-index-{name}-{i}"
        shutil.rmtree(seismic_dir, ignore_errors=True)
        built = build_index(splare_vectors, seismic_dir, SeismicConfig(**{**vars(shipped), **build}), num_threads=1)
        result["documents"] = built["documents"]
        result["seismic_builds"][build_name(build)] = {"config": built["config"], "build_seconds": built["seconds"],
                                                      "index_bytes": built["index_bytes"]}
        if build_name(build) == "seismic":  # the shipped build knobs
            result["seismic_build_seconds"], result["seismic_index_bytes"] = built["seconds"], built["index_bytes"]
        seismic = SeismicSearcher(seismic_dir)
        for cut in cuts:
            for heap in heaps:
                seismic.query_cut, seismic.heap_factor = cut, heap
                runs[system_name(build, cut, heap)] = timed(lambda q, k: seismic.search_vector(queries[q], k), qids,
                                                            DEPTHS, repeats)
        seismic = None  # closes the index before its folder goes
        shutil.rmtree(seismic_dir, ignore_errors=True)  # an index per build point: keep the disk small
    exact = runs["splare-lucene"]["run"]
    for system, measured in runs.items():
        row = dict(measured["latency"])
        row["overlap@10_with_exact"] = overlap10(measured["run"], exact)
        if qrels is not None:
            row["ndcg@10"] = round(mean_ndcg10(qrels, {q: r for q, r in measured["run"].items() if r}), 4)
        result["systems"][system] = row
    bm25_p50 = result["systems"]["bm25-flat"]
    for row in result["systems"].values():
        for k in DEPTHS:
            row[f"over_bm25@{k}"] = round(row[f"p50_ms@{k}"] / bm25_p50[f"p50_ms@{k}"], 2)
    lucene.close()
    bm25.close()
    return result


def choose(result: dict, tolerance: float = 0.005) -> str | None:
    """The fastest Seismic point at k=10 within ``tolerance`` nDCG@10 of exact Lucene."""
    exact = result["systems"]["splare-lucene"]["ndcg@10"]
    good = [(row["p50_ms@10"], name) for name, row in result["systems"].items()
            if name.startswith("seismic") and row["ndcg@10"] >= exact - tolerance]
    return min(good)[1] if good else None


def plot(result: dict, dataset: str, out: Path) -> None:
    from eval.plotting import figure, save

    corpora = result["corpora"]
    fig, ax = figure()
    for corpus, measured in corpora.items():
        for system in ("bm25-flat", "splare-lucene", result["shipped"]):
            row = measured["systems"][system]
            ax.plot(DEPTHS, [row[f"p50_ms@{k}"] for k in DEPTHS], marker="o", label=f"{system} ({corpus})")
    ax.set_xscale("log")
    save(fig, ax, out / f"seismic.{dataset}.depth.png", "hits (k)", "p50 ms per query (1 thread)")
    for corpus, measured in corpora.items():  # quality vs speed wherever the corpus was judged
        systems = measured["systems"]
        if "ndcg@10" not in systems["splare-lucene"]:
            continue
        fig, ax = figure()
        points = {n: r for n, r in systems.items() if n.startswith("seismic")}
        ax.scatter([r["p50_ms@10"] for r in points.values()], [r["ndcg@10"] for r in points.values()],
                   label="SPLARE, Seismic (knob sweep)", marker="x")
        for name in ("splare-lucene", "bm25-flat"):
            ax.scatter([systems[name]["p50_ms@10"]], [systems[name]["ndcg@10"]], label=name, marker="o")
        suffix = "" if corpus == "1x" else f".{corpus}"
        save(fig, ax, out / f"seismic.{dataset}{suffix}.quality.png", "p50 ms per query at k=10 (1 thread)", "nDCG@10")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--scale", type=int, default=1, help="also time a corpus of N copies of each document")
    parser.add_argument("--query-cuts", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--heap-factors", type=float, nargs="+", default=[0.6, 0.8, 0.9, 1.0])
    parser.add_argument("--n-postings", type=int, nargs="+", default=None,
                        help="build knob sweep: mean postings kept per latent (default: the shipped share of the "
                             "mean list length)")
    parser.add_argument("--postings-shares", type=float, nargs="+", default=None,
                        help="build knob sweep: postings kept per latent as a share of the mean posting-list length "
                             "(where --n-postings is not given; default: shipped)")
    parser.add_argument("--summary-energies", type=float, nargs="+", default=None,
                        help="build knob sweep: the share of a block's mass its summary keeps (default: shipped)")
    parser.add_argument("--centroid-fractions", type=float, nargs="+", default=None,
                        help="build knob sweep: blocks per posting list as a share of its length (fewer blocks: "
                             "fewer summaries to score per query term; default: shipped)")
    parser.add_argument("--sweep-scaled", action="store_true",
                        help="run the whole knob sweep on the --scale corpus too (its copies of a judged document judged)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    java_env.configure()
    from splare_pyserini.io.readers import read_qrels
    from splare_pyserini.backends.seismic import SeismicConfig, iter_vectors

    work = Path(args.run_dir) / "work" / args.dataset
    encoded = dict(iter_vectors(work / "splare-queries" / "queries.jsonl"))
    texts = dict(line.rstrip("\n").split("\t", 1) for line in open(work / "splare-queries" / "topics.tsv", encoding="utf-8"))
    qrels = {q: docs for q, docs in read_qrels(work / "qrels.test.trec").items() if q in encoded}
    shipped = SeismicConfig()
    result = {"command": "python -m eval.bench_seismic " + " ".join(argv or sys.argv[1:]), "queries": len(encoded),
              "shipped": f"seismic cut={shipped.query_cut} heap={shipped.heap_factor}", "corpora": {}}
    cuts = sorted(set(args.query_cuts) | {shipped.query_cut})
    heaps = sorted(set(args.heap_factors) | {shipped.heap_factor})
    splare_index, bm25_index = minimal_indexes(work)
    start = time.perf_counter()
    points = build_points({"n_postings": args.n_postings or [shipped.n_postings],
                           "summary_energy": args.summary_energies or [shipped.summary_energy],
                           "postings_share": args.postings_shares or [shipped.postings_share],
                           "centroid_fraction": args.centroid_fractions or [shipped.centroid_fraction]})
    if "seismic" not in map(build_name, points):  # the shipped build is always measured: the reference row
        points.insert(0, {})
    result["corpora"]["1x"] = bench_corpus("1x", work / "splare-vectors", splare_index, bm25_index, encoded, texts,
                                           qrels, cuts, heaps, args.repeats, work, points)
    if args.scale > 1:
        from splare_pyserini.lucene.pyserini_cli import index_bm25, index_impact

        tag = f"{args.scale}x"
        vectors = repeated_collection(work / "splare-vectors", work / f"splare-vectors-{tag}", args.scale)
        collection = repeated_collection(work / "bm25-collection", work / f"bm25-collection-{tag}", args.scale)
        lucene_index, bm25_scaled = work / f"splare-index-{tag}", work / f"bm25-index-{tag}"
        t = time.perf_counter()
        if not any(lucene_index.glob("segments_*")):
            index_impact(vectors, lucene_index, threads=1, store_raw=False)
        result["lucene_build_seconds_" + tag] = round(time.perf_counter() - t, 1)
        if not any(bm25_scaled.glob("segments_*")):
            index_bm25(collection, bm25_scaled, threads=1, store=False)
        if args.sweep_scaled:  # the whole sweep on the larger corpus, judged copies judged as the original
            result["corpora"][tag] = bench_corpus(tag, vectors, lucene_index, bm25_scaled, encoded, texts,
                                                  repeated_qrels(qrels, args.scale) if qrels else None, cuts, heaps,
                                                  args.repeats, work, points)
        else:
            result["corpora"][tag] = bench_corpus(tag, vectors, lucene_index, bm25_scaled, encoded, texts, None,
                                                  [shipped.query_cut], [shipped.heap_factor], args.repeats, work)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["chosen_on_this_set"] = choose(result["corpora"]["1x"]) if qrels else None
    if args.sweep_scaled and qrels and args.scale > 1:
        result[f"chosen_on_this_set_{args.scale}x"] = choose(result["corpora"][f"{args.scale}x"])
    print(json.dumps(result, indent=2))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"seismic.{args.dataset}.json").write_text(json.dumps(result, indent=2) + "\n")
        plot(result, args.dataset, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
