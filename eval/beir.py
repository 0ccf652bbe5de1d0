"""SPLARE vs Pyserini BM25 (and their RRF hybrid) on BEIR-layout collections, end to end.

    python -m eval.beir --data ../shared/data/medline [--data ...] [--encoder MODEL] --out RUN_DIR

For each ``--data`` folder (corpus.jsonl, queries.jsonl, qrels/test.tsv): encode the corpus
(cached: reused while the model and the corpus are unchanged), build the Lucene impact
index with Pyserini, encode the judged queries, search with Pyserini's impact searcher
CLI, build and search Pyserini's BM25 (flat: title + text), fuse both with Pyserini's fusion
(normalized interpolation, RRF), build and search the one-index hybrid (latents + BM25 words,
:mod:`splare_pyserini.lucene.hybrid`), and score every run with trec_eval. ``RUN_DIR`` receives ``results.json``
(``{dataset: {system: {metric: value}}}``), ``results.md``, ``timings.json`` and
``run.<dataset>.<system>.txt`` TREC run files.

Multilingual benchmarks (a folder of language sub-folders, e.g. ``../shared/data/xquad-r``):

    python -m eval.beir --data ../shared/data/xquad-r --out RUN_DIR [--languages de,zh] [--language auto]
    python -m eval.beir --data ../shared/data/xquad-r --cross-lingual --out RUN_DIR   # pooled LAReQA
    python -m eval.beir --data ../shared/data/tatoeba --cross-lingual --out RUN_DIR   # language -> English

give one row per language (``xquad-r/de``) and the mean; BM25 uses each language's Lucene
analyzer where Anserini has one (``analyzers.json`` and the table say which). See
:mod:`eval.multilingual`.
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

from eval.multilingual import (
    Collection,
    bm25_analyzer,
    cross_lingual_example,
    discover,
    dump,
    example_markdown,
    is_parallel,
    pooled_qrels,
    write_pooled_qrels,
)
from eval.vocabulary_splade import VocabularySplade
from splare_pyserini.modeling.splade_tiny import SPLADE_TINY, splade_tiny_dir
from splare_pyserini.lucene import cli_runner, pyserini_cli as lucene
from splare_pyserini.encoding.jobs import encode_corpus, encode_topics, parse_args as encode_args
from splare_pyserini.io.readers import read_corpus, read_qrels, read_topics
from splare_pyserini.lucene.trec_eval import check_run_against_qrels, trec_eval, write_trec_qrels

logger = logging.getLogger("eval.beir")

METRICS = ["ndcg_cut_10", "recall_100", "recall_1000", "recip_rank_10"]
CROSS_LINGUAL_METRICS = ["map", "ndcg_cut_10", "recall_100", "recip_rank_10", "P_1"]  # LAReQA: mAP; Tatoeba: P@1
LABELS = {"ndcg_cut_10": "nDCG@10", "recall_100": "R@100", "recall_1000": "R@1000", "recip_rank_10": "MRR@10",
          "map": "mAP", "P_1": "P@1"}
SYSTEMS = ("splare", "bm25-flat", "hybrid-index", "fusion-interp", "fusion-rrf")
SEISMIC = "splare-seismic"  # with --backend seismic
"""``hybrid-index``: one Lucene index of latents and BM25 words (:mod:`splare_pyserini.lucene.hybrid`);
``fusion-interp``/``fusion-rrf``: the BM25 and SPLARE runs fused by Pyserini (normalized interpolation, RRF)."""


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


def encode_cached(model, corpus: Path, vectors: Path, batch_size: int, timer: StageTimer, label: str = "") -> None:
    """Encode into ``vectors`` unless a complete encode with the same model and corpus is there."""
    argv = ["--corpus", str(corpus), "--embeddings", str(vectors), "--batch-size", str(batch_size), "--resume"]
    with timer.stage(f"encode corpus{label}"):
        try:
            stats = encode_corpus(encode_args(argv), model=model)
        except ValueError as exc:  # settings differ: the model or the corpus changed
            logger.info("cache invalid (%s): re-encoding", exc)
            from splare_pyserini.io.vector_writer import state_dir

            shutil.rmtree(vectors)
            shutil.rmtree(state_dir(vectors), ignore_errors=True)
            stats = encode_corpus(encode_args(argv), model=model)
    timer.seconds[f"encode corpus{label} (docs)"] = stats["records"]
    if stats["seconds"]:
        timer.seconds[f"encode corpus{label} (docs/s)"] = round(stats["records"] / stats["seconds"], 1)


def evaluate_dataset(collection: Collection | Path, model, out: Path, batch_size: int = 16, threads: int = 2,
                     bm25: bool = True, language: str | None = None,
                     metrics: list[str] = METRICS, baselines: dict | None = None,
                     hybrid_alpha: float | None = None, fusion_alpha: float | None = None,
                     seismic: bool = False) -> tuple[dict, dict]:
    """All systems on one collection; returns ({system: metrics}, {stage: seconds}).
    ``hybrid_alpha``/``fusion_alpha``: BM25's share in the hybrid index and the interpolation
    (default: the model's ``hybrid_alpha``/``fusion_alpha``).
    ``language``: Pyserini's ``--language`` for BM25 indexing and search (None: its default).
    ``baselines``: other impact models by system name (``splade-tiny``: :mod:`eval.vocabulary_splade`),
    encoded, indexed and searched exactly as SPLARE is. ``seismic``: also SPLARE's vectors and queries
    through a Seismic index with the shipped knobs (``splare-seismic``, beside Lucene's exact ``splare``)."""
    collection = collection if isinstance(collection, Collection) else Collection(collection.name, collection)
    data, name = collection.path, collection.slug
    work = out / "work" / name
    timer = StageTimer()
    topics_src, qrels = judged_topics(data, work)
    systems = [*SYSTEMS, *(baselines or {}), *([SEISMIC] if seismic else [])]
    runs = {system: out / f"run.{name}.{system}.txt" for system in systems}
    encoded_queries = impact_run("splare", model, data, topics_src, work, runs["splare"], batch_size, threads, timer)
    if seismic:
        seismic_run(work, encoded_queries, runs[SEISMIC], threads, timer)
    for system, baseline in (baselines or {}).items():
        impact_run(system, baseline, data, topics_src, work, runs[system], batch_size, threads, timer)
    if bm25:
        with timer.stage("bm25 index"):
            build_bm25_index([data / "corpus.jsonl"], work, threads, language)
        with timer.stage("bm25 search"):
            lucene.search_bm25(work / "bm25-index", encoded_queries / "topics.tsv", runs["bm25-flat"],
                               threads=threads, language=language, log=work / "logs" / "search-bm25.log")
        with timer.stage("rrf fusion"):
            lucene.fuse_rrf([runs["splare"], runs["bm25-flat"]], runs["fusion-rrf"], log=work / "logs" / "fusion.log")
        with timer.stage("interpolation fusion"):
            lucene.fuse_interpolation([runs["bm25-flat"], runs["splare"]], runs["fusion-interp"],
                                      model.config.fusion_alpha if fusion_alpha is None else fusion_alpha)
        hybrid_index_run(model, data, work, encoded_queries, runs["hybrid-index"], threads, language, timer,
                         alpha=hybrid_alpha)
    results = {}
    with timer.stage("trec_eval"):
        for system, run in runs.items():
            if run.exists():
                results[system] = trec_eval(qrels, run, metrics)
                report_missing_queries(qrels, run, system, timer)
    return results, timer.seconds


def impact_run(system: str, model, data: Path, topics: Path, work: Path, run: Path, batch_size: int, threads: int,
               timer: StageTimer) -> Path:
    """Encode (cached), index and search one impact model; returns its encoded-queries folder.
    SPLARE keeps its historical folder and stage names (``splare-vectors``, ``encode corpus``)."""
    prefix, label = ("splare", "") if system == "splare" else (system, f" {system}")
    vectors, index = work / f"{prefix}-vectors", work / f"{prefix}-index"
    encode_cached(model, data / "corpus.jsonl", vectors, batch_size, timer, label=label)
    with timer.stage(f"index {system}"):
        shutil.rmtree(index, ignore_errors=True)
        lucene.index_impact(vectors, index, threads=threads, log=work / "logs" / f"index-{system}.log")
    encoded_queries = encode_queries(model, topics, work, timer, folder=f"{prefix}-queries", label=label)
    with timer.stage(f"search {system}"):
        lucene.search_impact(index, encoded_queries / "queries.jsonl", encoded_queries / "topics.tsv",
                             run, threads=threads, log=work / "logs" / f"search-{system}.log")
    return encoded_queries


def seismic_run(work: Path, encoded_queries: Path, run: Path, threads: int, timer: StageTimer) -> None:
    """SPLARE's cached vectors in a Seismic index (default knobs), searched with its encoded queries."""
    from splare_pyserini.backends.seismic import SeismicSearcher, build_index, search_encoded_topics

    with timer.stage("index seismic"):
        build_index(work / "splare-vectors", work / "seismic-index", num_threads=threads)
    with timer.stage("search seismic"):
        search_encoded_topics(SeismicSearcher(work / "seismic-index"), encoded_queries / "queries.jsonl", run,
                              threads=threads)


def hybrid_index_run(model, data: Path, work: Path, splare_queries: Path, run: Path, threads: int,
                     language: str | None, timer: StageTimer, alpha: float | None = None) -> Path | None:
    """The one-index hybrid from SPLARE's cached vectors (no re-encode): words added with the corpus's
    BM25 statistics, indexed, searched with hybrid queries at ``alpha`` (default: the model's);
    returns the hybrid index, or None (no row) when Pyserini's analysis API has no analyzer for
    ``language`` (Anserini's indexer knows a few more: fa, sv, uk)."""
    from splare_pyserini.lucene.hybrid import BM25Statistics, WordAnalyzer, add_words_to_vectors, hybrid_topics

    scale = model.config.quantization_scale
    alpha = model.config.hybrid_alpha if alpha is None else alpha
    try:
        analyzer = WordAnalyzer(language or "en")
    except ValueError as exc:
        logger.warning("%s: no hybrid-index row: pyserini.analysis has no analyzer for language %r (%s)",
                       data.name, language, exc)
        return None
    index = work / "hybrid-index"
    with timer.stage("index hybrid-index"):
        stats = BM25Statistics.from_texts((r.text for r in read_corpus(data / "corpus.jsonl")), analyzer)
        vectors = add_words_to_vectors(work / "splare-vectors", work / "hybrid-vectors", analyzer, stats, scale)
        shutil.rmtree(index, ignore_errors=True)
        lucene.index_impact(vectors, index, threads=threads, log=work / "logs" / "index-hybrid.log")
    queries = hybrid_topics(splare_queries, work / "hybrid-queries", analyzer, alpha, scale)
    with timer.stage("search hybrid-index"):
        lucene.search_impact(index, queries / "queries.jsonl", queries / "topics.tsv", run, threads=threads,
                             log=work / "logs" / "search-hybrid.log")
    return index


def report_missing_queries(qrels: Path, run: Path, system: str, timer: StageTimer) -> int:
    """Judged queries with no line in a run (scored 0 by ``trec_eval -c``) go into the timings table
    (``results.md``) as well as the log, so a silent failure shows up where results are read."""
    _, missing = check_run_against_qrels(qrels, run, warn=False)  # trec_eval() has warned
    if missing:
        timer.seconds[f"{system}: judged queries with no hit (queries)"] = missing
    return missing


def encode_queries(model, topics: Path, work: Path, timer: StageTimer, folder: str = "splare-queries",
                   label: str = "") -> Path:
    encoded = work / folder
    with timer.stage(f"encode queries{label}"):
        encode_topics(encode_args(["--topics", str(topics), "--embeddings", str(encoded), "--resume"]), model=model)
    return encoded


def build_bm25_index(corpora: list[Path], work: Path, threads: int, language: str | None) -> Path:
    """Pyserini's BM25 index (flat: title + text) of one or several corpora, with ``language``'s analyzer."""
    collection_dir = work / "bm25-collection"
    shutil.rmtree(collection_dir, ignore_errors=True)
    for number, corpus in enumerate(corpora):
        written = lucene.write_bm25_collection(str(corpus), collection_dir)
        written.rename(collection_dir / f"docs-{number:03d}.jsonl")
    shutil.rmtree(work / "bm25-index", ignore_errors=True)
    lucene.index_bm25(collection_dir, work / "bm25-index", threads=threads, language=language,
                      log=work / "logs" / "index-bm25.log")
    return work / "bm25-index"


def evaluate_pool(collections: list[Collection], model, out: Path, batch_size: int = 16, threads: int = 2,
                  bm25: bool = True) -> tuple[dict, dict, dict]:
    """LAReQA's pooled setting: one index of every language's documents; each language's questions
    against it; relevant = the answer in every language. Returns (results, timings, examples)."""
    from splare_pyserini.io.readers import read_corpus

    benchmark = collections[0].name.split("/")[0]
    work = out / "work" / f"{benchmark}-pooled"
    timer = StageTimer()
    qrels = pooled_qrels(collections)
    qrels_file = write_pooled_qrels(qrels, work / "qrels.pooled.trec")
    pool = work / "splare-vectors"
    shutil.rmtree(pool, ignore_errors=True)
    pool.mkdir(parents=True)
    for c in collections:  # each language encoded once (cached, shared with the monolingual runs)
        vectors = out / "work" / c.slug / "splare-vectors"
        encode_cached(model, c.path / "corpus.jsonl", vectors, batch_size, timer)
        for part in sorted(vectors.glob("*.jsonl")):
            shutil.copyfile(part, pool / f"{c.language}-{part.name}")
    with timer.stage("index splare pool"):
        shutil.rmtree(work / "splare-index", ignore_errors=True)
        lucene.index_impact(pool, work / "splare-index", threads=threads, log=work / "logs" / "index-splare.log")
    neutral, _ = bm25_analyzer(collections[0], None, cross_lingual=True)
    if bm25:
        with timer.stage("bm25 index pool"):
            build_bm25_index([c.path / "corpus.jsonl" for c in collections], work, threads, neutral)
    texts = {r.docid: r.text for c in collections for r in read_corpus(c.path / "corpus.jsonl")}
    results, examples = {}, {}
    for c in collections:
        name = f"{benchmark}-pooled-{c.language}"
        lang_work = out / "work" / c.slug
        topics_src, _ = judged_topics(c.path, lang_work)
        encoded = encode_queries(model, topics_src, lang_work, timer)
        runs = {system: out / f"run.{name}.{system}.txt" for system in SYSTEMS}
        with timer.stage(f"search pool {c.language}"):
            lucene.search_impact(work / "splare-index", encoded / "queries.jsonl", encoded / "topics.tsv",
                                 runs["splare"], threads=threads, log=work / "logs" / f"search-splare-{c.language}.log")
            if bm25:
                lucene.search_bm25(work / "bm25-index", encoded / "topics.tsv", runs["bm25-flat"], threads=threads,
                                   language=neutral, log=work / "logs" / f"search-bm25-{c.language}.log")
                lucene.fuse_rrf([runs["splare"], runs["bm25-flat"]], runs["fusion-rrf"],
                                log=work / "logs" / f"fusion-{c.language}.log")
        results[f"{benchmark}/pooled/{c.language}"] = {
            system: trec_eval(qrels_file, run, CROSS_LINGUAL_METRICS) for system, run in runs.items() if run.exists()}
        queries = {r.docid: r.text for r in read_topics(c.path / "queries.jsonl")}
        examples[c.language] = cross_lingual_example(runs["splare"], qrels, queries, texts.get, collections, c.language)
    return results, timer.seconds, examples


def markdown_table(results: dict, analyzers: dict | None = None, metrics: list[str] = METRICS) -> str:
    """One row per dataset and system, then a mean row per system (BEIR papers' average)."""
    analyzers = analyzers or {}
    extra = " BM25 analyzer |" if analyzers else ""
    header = "| dataset | system | " + " | ".join(LABELS[m] for m in metrics) + " |" + extra
    lines = [header, "|" + "---|" * (len(metrics) + 2 + bool(analyzers))]
    for dataset, systems in results.items():
        for system, values in systems.items():
            cells = " | ".join(f"{values[m]:.4f}" if m in values else "-" for m in metrics)
            note = f" {analyzers.get(dataset, '')} |" if analyzers and system != "splare" else (" |" if analyzers else "")
            lines.append(f"| {dataset} | {system} | {cells} |{note}")
    if len(results) > 1:
        for system in dict.fromkeys(system for systems in results.values() for system in systems):
            rows = [s[system] for s in results.values() if system in s]
            if rows:
                cells = " | ".join(f"{sum(r[m] for r in rows if m in r) / len(rows):.4f}" for m in metrics)
                lines.append(f"| **mean ({len(rows)})** | {system} | {cells} |" + (" |" if analyzers else ""))
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
    parser.add_argument("--data", action="append", required=True,
                        help="BEIR-layout folder, or a folder of language sub-folders; repeat for several")
    parser.add_argument("--encoder", default=None, help="SPLARE model directory (default: the embedded default)")
    parser.add_argument("--out", required=True, help="run directory for results and run files")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-bm25", action="store_true", help="SPLARE only")
    parser.add_argument("--systems", nargs="+", default=[], choices=[SPLADE_TINY],
                        help="more rows: splade-tiny (vocabulary SPLADE, BERT-tiny; pip install "
                             "'splare-pyserini[baselines]')")
    parser.add_argument("--hybrid-alpha", type=float, default=None,
                        help="BM25's share in the hybrid-index row (default: the model's hybrid_alpha)")
    parser.add_argument("--fusion-alpha", type=float, default=None,
                        help="BM25's share in the fusion-interp row (default: the model's fusion_alpha)")
    parser.add_argument("--backend", choices=["lucene", "seismic"], default="lucene",
                        help="seismic: also search SPLARE through a Seismic index (row splare-seismic)")
    multi = parser.add_argument_group("multilingual")
    multi.add_argument("--language", default="auto",
                       help="BM25 analyzer: auto (each sub-folder's language, where Anserini has an analyzer), "
                            "default, or a language code for every collection")
    multi.add_argument("--languages", help="comma-separated sub-folders to evaluate (default: all)")
    multi.add_argument("--cross-lingual", action="store_true",
                       help="pool parallel sub-folders (LAReQA: mAP), or evaluate query->other-language "
                            "sub-folders (Tatoeba: P@1); BM25 with one language-neutral analyzer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for flag, value in (("--hybrid-alpha", args.hybrid_alpha), ("--fusion-alpha", args.fusion_alpha)):
        if value is not None and not 0.0 <= value <= 1.0:
            parser.error(f"{flag} {value} must be in [0, 1] (1: BM25 alone, 0: SPLARE alone)")
    languages = args.languages.split(",") if args.languages else None
    try:
        benchmarks = [discover(Path(d), languages) for d in args.data]
        for collections in benchmarks:  # a bad --language fails before the model loads
            for c in collections:
                bm25_analyzer(c, args.language, args.cross_lingual)
    except ValueError as exc:
        parser.error(str(exc))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with cli_runner.shared_worker():  # Pyserini's CLIs in one worker: its imports and JVM start once
        return evaluate_all(args, benchmarks, out)


def evaluate_all(args: argparse.Namespace, benchmarks: list, out: Path) -> int:
    """Every collection of ``benchmarks`` (as :func:`main` parsed them); results, timings, report."""
    from splare_pyserini.modeling.model import SplareModel

    timer = StageTimer()
    with timer.stage("load model"):
        model = SplareModel.from_pretrained(args.encoder)
        baselines = {SPLADE_TINY: VocabularySplade(splade_tiny_dir())} if SPLADE_TINY in args.systems else {}
    results, timings, analyzers, examples = {}, {"all": dict(timer.seconds)}, {}, {}
    metrics = CROSS_LINGUAL_METRICS if args.cross_lingual else METRICS
    for collections in benchmarks:
        if args.cross_lingual and is_parallel(collections):
            pooled, timings[collections[0].name.split("/")[0] + "-pooled"], examples = evaluate_pool(
                collections, model, out, batch_size=args.batch_size, threads=args.threads, bm25=not args.no_bm25)
            results.update(pooled)
            analyzers.update({name: bm25_analyzer(collections[0], None, True)[1] for name in pooled})
            continue
        for c in collections:
            language, analyzers[c.name] = bm25_analyzer(c, args.language, args.cross_lingual)
            results[c.name], timings[c.name] = evaluate_dataset(
                c, model, out, batch_size=args.batch_size, threads=args.threads, bm25=not args.no_bm25,
                language=language, metrics=metrics, baselines=baselines, hybrid_alpha=args.hybrid_alpha,
                fusion_alpha=args.fusion_alpha, seismic=args.backend == "seismic")
    multilingual = any(c.language for collections in benchmarks for c in collections)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    report = (f"## Retrieval quality (trec_eval)\n\n"
              f"{markdown_table(results, analyzers if multilingual else None, metrics)}\n\n")
    if multilingual:
        dump(out / "analyzers.json", analyzers)
    if examples:
        dump(out / "cross_lingual_examples.json", examples)
        report += "## A pooled query whose top hits come from other languages (SPLARE)\n\n"
        report += example_markdown(max(examples.values(), key=lambda e: e["relevant_in_other_languages_in_top"]))
        report += "\n\n"
    report += f"## Wall time per stage\n\n{timings_table(timings)}\n"
    (out / "results.md").write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
