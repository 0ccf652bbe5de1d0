"""SPLARE vs Pyserini BM25 (and their RRF hybrid) on BEIR-layout collections, end to end.

    python -m eval.beir --data ../shared/data/medline [--data ...] [--encoder MODEL] --out RUN_DIR

For each ``--data`` folder (corpus.jsonl, queries.jsonl, qrels/test.tsv): encode the corpus
(cached: reused while the model and the corpus are unchanged), build the Lucene impact
index with Pyserini, encode the judged queries, search with Pyserini's impact searcher
CLI, build and search Pyserini's BM25 (flat: title + text), fuse both with Pyserini's RRF,
and score every run with trec_eval. ``RUN_DIR`` receives ``results.json``
(``{dataset: {system: {metric: value}}}``), ``results.md``, ``timings.json`` and
``run.<dataset>.<system>.txt`` TREC run files.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from splare_pyserini import lucene
from splare_pyserini.encode import encode_corpus, encode_topics, parse_args as encode_args
from splare_pyserini.readers import read_corpus, read_qrels, read_topics
from splare_pyserini.trec_eval import trec_eval, write_trec_qrels

logger = logging.getLogger("eval.beir")

METRICS = ["ndcg_cut_10", "recall_100", "recall_1000", "recip_rank_10"]
LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "recall_1000": "R@1000", "recip_rank_10": "MRR@10"}
SYSTEMS = ("splare", "bm25-flat", "hybrid-rrf")


class StageTimer:
    """Wall time per named stage, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        logger.info("stage %s ...", name)
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        logger.info("stage %s: %.1f s", name, self.seconds[name])


def judged_topics(data: Path, work: Path) -> tuple[Path, Path]:
    """Topics restricted to queries with qrels (BEIR evaluates those), plus TREC qrels; warn on mismatches."""
    qrels_path = data / "qrels" / "test.tsv"
    qrels = read_qrels(qrels_path)
    queries = {r.docid: r.text for r in read_topics(data / "queries.jsonl")}
    missing = sorted(set(qrels) - set(queries))
    unjudged = len(set(queries) - set(qrels))
    if missing:
        logger.warning("%s: %d judged query ids have no text in queries.jsonl (scored 0 by trec_eval -c): %s",
                       data.name, len(missing), missing[:5])
    if unjudged:
        logger.warning("%s: %d queries without qrels are not searched (BEIR evaluates judged queries only)",
                       data.name, unjudged)
    corpus = data / "corpus.jsonl"
    if corpus.exists():
        doc_ids = {record.docid for record in read_corpus(corpus)}
        unknown = {(q, d) for q, docs in qrels.items() for d in docs if d not in doc_ids}
        if unknown:
            logger.warning("%s: %d qrels name %d documents that are not in corpus.jsonl (they can never be retrieved): %s",
                           data.name, len(unknown), len({d for _, d in unknown}), sorted(unknown)[:3])
    work.mkdir(parents=True, exist_ok=True)
    topics = work / "judged-queries.jsonl"
    with open(topics, "w", encoding="utf-8") as handle:
        for qid in sorted(set(qrels) & set(queries)):
            handle.write(json.dumps({"_id": qid, "text": queries[qid]}, ensure_ascii=False) + "\n")
    return topics, write_trec_qrels(qrels_path, work / "qrels.test.trec")


def encode_cached(model, corpus: Path, vectors: Path, batch_size: int, timer: StageTimer) -> None:
    """Encode into ``vectors`` unless a complete encode with the same model and corpus is there."""
    argv = ["--corpus", str(corpus), "--embeddings", str(vectors), "--batch-size", str(batch_size), "--resume"]
    with timer.stage("encode corpus"):
        try:
            stats = encode_corpus(encode_args(argv), model=model)
        except ValueError as exc:  # settings differ: the model or the corpus changed
            logger.info("cache invalid (%s): re-encoding", exc)
            from splare_pyserini.vector_writer import state_dir

            shutil.rmtree(vectors)
            shutil.rmtree(state_dir(vectors), ignore_errors=True)
            stats = encode_corpus(encode_args(argv), model=model)
    timer.seconds["encode corpus (docs)"] = stats["records"]
    if stats["seconds"]:
        timer.seconds["encode corpus (docs/s)"] = round(stats["records"] / stats["seconds"], 1)


def evaluate_dataset(data: Path, model, out: Path, batch_size: int = 16, threads: int = 2,
                     bm25: bool = True) -> tuple[dict, dict]:
    """All systems on one collection; returns ({system: metrics}, {stage: seconds})."""
    name = data.name
    work = out / "work" / name
    timer = StageTimer()
    topics_src, qrels = judged_topics(data, work)
    vectors, index = work / "splare-vectors", work / "splare-index"
    encode_cached(model, data / "corpus.jsonl", vectors, batch_size, timer)
    with timer.stage("index splare"):
        shutil.rmtree(index, ignore_errors=True)
        lucene.index_impact(vectors, index, threads=threads, log=work / "logs" / "index-splare.log")
    encoded_queries = work / "splare-queries"
    with timer.stage("encode queries"):
        encode_topics(encode_args(["--topics", str(topics_src), "--embeddings", str(encoded_queries), "--resume"]),
                      model=model)
    runs = {system: out / f"run.{name}.{system}.txt" for system in SYSTEMS}
    with timer.stage("search splare"):
        lucene.search_impact(index, encoded_queries / "queries.jsonl", encoded_queries / "topics.tsv",
                             runs["splare"], threads=threads, log=work / "logs" / "search-splare.log")
    if bm25:
        with timer.stage("bm25 index"):
            collection = lucene.write_bm25_collection(str(data / "corpus.jsonl"), work / "bm25-collection")
            shutil.rmtree(work / "bm25-index", ignore_errors=True)
            lucene.index_bm25(collection.parent, work / "bm25-index", threads=threads, log=work / "logs" / "index-bm25.log")
        with timer.stage("bm25 search"):
            lucene.search_bm25(work / "bm25-index", encoded_queries / "topics.tsv", runs["bm25-flat"],
                               threads=threads, log=work / "logs" / "search-bm25.log")
        with timer.stage("rrf fusion"):
            lucene.fuse_rrf([runs["splare"], runs["bm25-flat"]], runs["hybrid-rrf"], log=work / "logs" / "fusion.log")
    results = {}
    with timer.stage("trec_eval"):
        for system, run in runs.items():
            if run.exists():
                results[system] = trec_eval(qrels, run, METRICS)
    return results, timer.seconds


def markdown_table(results: dict) -> str:
    header = "| dataset | system | " + " | ".join(LABELS[m] for m in METRICS) + " |"
    lines = [header, "|" + "---|" * (len(METRICS) + 2)]
    for dataset, systems in results.items():
        for system, metrics in systems.items():
            cells = " | ".join(f"{metrics[m]:.4f}" if m in metrics else "-" for m in METRICS)
            lines.append(f"| {dataset} | {system} | {cells} |")
    if len(results) > 1:
        for system in SYSTEMS:
            rows = [s[system] for s in results.values() if system in s]
            if rows:
                cells = " | ".join(f"{sum(r[m] for r in rows) / len(rows):.4f}" for m in METRICS)
                lines.append(f"| **average** | {system} | {cells} |")
    return "\n".join(lines)


def timings_table(timings: dict) -> str:
    lines = ["| dataset | stage | value |", "|---|---|---|"]
    for dataset, stages in timings.items():
        for stage, value in stages.items():
            unit = "" if "(" in stage else " s"
            lines.append(f"| {dataset} | {stage} | {value}{unit} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", required=True, help="BEIR-layout folder; repeat for several")
    parser.add_argument("--encoder", default=None, help="SPLARE model directory (default: the embedded default)")
    parser.add_argument("--out", required=True, help="run directory for results and run files")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-bm25", action="store_true", help="SPLARE only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from splare_pyserini.model import SplareModel

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timer = StageTimer()
    with timer.stage("load model"):
        model = SplareModel.from_pretrained(args.encoder)
    results, timings = {}, {"all": dict(timer.seconds)}
    for data in map(Path, args.data):
        if not (data / "corpus.jsonl").exists():
            raise SystemExit(f"{data}: no corpus.jsonl (expected a BEIR-layout folder)")
        results[data.name], timings[data.name] = evaluate_dataset(
            data, model, out, batch_size=args.batch_size, threads=args.threads, bm25=not args.no_bm25)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    report = f"## Retrieval quality (trec_eval)\n\n{markdown_table(results)}\n\n## Wall time per stage\n\n{timings_table(timings)}\n"
    (out / "results.md").write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
