"""Seismic backend: approximate impact search over the encoder's own JsonVectorCollection files.

    python -m splare_pyserini.seismic --input VECTORS_DIR --index INDEX_DIR [build knobs]
    python -m splare_pyserini.search --backend seismic --index INDEX_DIR --topics T --output RUN

Seismic (Bruch, Nardini, Rulli, Venturini, SIGIR 2024; ``pip install pyseismic-lsr``, the
``seismic`` extra) keeps, per latent, its largest postings in blocks with a summary vector each,
and skips blocks whose summary cannot beat the current top-k (``heap_factor``) after cutting the
query to its ``query_cut`` largest weights: the index the SPLARE paper timed. Documents and queries
are the integer impacts Lucene indexes (sent as float32, exact for these sizes), so with
:meth:`SeismicConfig.exact` (no pruning, whole summaries, the whole query) its scores are Lucene's
scores. ``INDEX_DIR`` holds Seismic's ``index.seismic`` and ``seismic_config.json`` (the knobs it
was built with and the search defaults).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

INDEX_FILE = "index.seismic"
CONFIG_FILE = "seismic_config.json"


def require_seismic():
    """The ``seismic`` module, or an error saying how to install it."""
    try:
        import seismic
    except ImportError as error:
        raise ImportError("the Seismic backend needs pyseismic-lsr: pip install 'splare-pyserini[seismic]' "
                          "(or pip install pyseismic-lsr)") from error
    return seismic


@dataclass
class SeismicConfig:
    """Seismic's build knobs (its own names and defaults, but the posting budget) and search defaults.

    ``n_postings`` is the mean postings kept per latent (``max_fraction`` times it at most per list).
    Left at None it is ``postings_share`` times the corpus's mean posting-list length, so that the
    pruning scales with the corpus: a number right for 5,000 documents would cut MS MARCO's lists to
    almost nothing. ``summary_energy`` is the share of a block's L1 mass its summary keeps;
    ``doc_cut`` the document terms each block's clustering sees. ``query_cut`` and ``heap_factor`` are
    search-time and stored as the index's defaults (``--query-cut``/``--heap-factor`` override them).
    The shipped share, cut and heap factor were chosen on the SQuAD dev set with 4,600 unjudged
    distractor paragraphs (a corpus of SciFact's size; ``eval/results/seismic-dev5k``): the fastest
    point within 0.005 nDCG@10 of exact Lucene whose heap factor also held on the dev set's 10x
    corpus, n_postings 250 of a mean list length of 397."""

    n_postings: int | None = None
    postings_share: float = 0.63
    centroid_fraction: float = 0.1
    min_cluster_size: int = 2
    summary_energy: float = 0.4
    max_fraction: float = 1.5
    doc_cut: int = 15
    query_cut: int = 5
    heap_factor: float = 0.8

    @classmethod
    def exact(cls, num_docs: int, max_terms: int = 1 << 16) -> "SeismicConfig":
        """No approximation: every posting kept, whole summaries, the whole query, no early stop."""
        return cls(n_postings=num_docs, max_fraction=1.0, summary_energy=1.0, doc_cut=max_terms,
                   query_cut=max_terms, heap_factor=1.0)

    def for_corpus(self, mean_list_length: float) -> "SeismicConfig":
        """This config with ``n_postings`` set: as given, or ``postings_share`` x ``mean_list_length``."""
        if self.n_postings is not None:
            return self
        return replace(self, n_postings=max(1, round(self.postings_share * mean_list_length)))

    def build_kwargs(self) -> dict:
        if self.n_postings is None:
            raise ValueError("n_postings is unset: SeismicConfig.for_corpus(mean posting-list length) sets it")
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("postings_share", "query_cut", "heap_factor")}

    @classmethod
    def from_dict(cls, values: dict) -> "SeismicConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown Seismic settings {sorted(unknown)} (known: {sorted(known)})")
        return cls(**values)


def iter_vectors(path: Path) -> Iterator[tuple[str, dict[str, float]]]:
    """(id, vector) of every JsonVectorCollection record of a file, or of a folder's ``*.jsonl`` parts."""
    parts = [path] if Path(path).is_file() else sorted(Path(path).glob("*.jsonl"))
    if not parts:
        raise FileNotFoundError(f"{path}: no *.jsonl JsonVectorCollection files")
    for part in parts:
        with open(part, encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                try:
                    record = json.loads(line)
                    yield str(record["id"]), record["vector"]
                except (json.JSONDecodeError, KeyError) as error:
                    raise ValueError(f"{part}:{lineno}: not a JsonVectorCollection record (id, vector): {error}") from error


def components(vector: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """A sparse vector as Seismic's (terms, float32 values) arrays."""
    seismic = require_seismic()
    return (np.array(list(vector), dtype=seismic.get_seismic_string()),
            np.array(list(vector.values()), dtype=np.float32))


def build_index(vectors_dir: str | os.PathLike, index_dir: str | os.PathLike, config: SeismicConfig | None = None,
                num_threads: int = 0, exact: bool = False) -> dict:
    """Build a Seismic index of the encoder's vectors into ``index_dir``; returns what was built
    (documents, seconds, bytes). ``exact``: :meth:`SeismicConfig.exact` for the documents read
    (instead of ``config``). The config is written last: an index folder without it is unfinished."""
    from splare_pyserini.io.vector_writer import write_text_atomically

    seismic = require_seismic()
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    (index_dir / CONFIG_FILE).unlink(missing_ok=True)
    start = time.perf_counter()
    dataset = seismic.SeismicDataset()
    num_docs, num_postings, latents = 0, 0, set()
    for docid, vector in iter_vectors(Path(vectors_dir)):
        if vector:  # Seismic rejects empty rows; an empty document can match nothing anyway
            dataset.add_document(docid, *components(vector))
            num_postings += len(vector)
            latents.update(vector)
        num_docs += 1
    config = SeismicConfig.exact(num_docs) if exact else (config or SeismicConfig())
    mean_list_length = num_postings / max(1, len(latents))
    config = config.for_corpus(mean_list_length)
    index = seismic.SeismicIndex.build_from_dataset(dataset, **config.build_kwargs(), num_threads=num_threads)
    index.save(str(index_dir / "index"))  # Seismic appends its suffix
    os.replace(index_dir / "index.index.seismic", index_dir / INDEX_FILE)
    built = {"documents": num_docs, "indexed": dataset.len, "seconds": round(time.perf_counter() - start, 2),
             "index_bytes": (index_dir / INDEX_FILE).stat().st_size,
             "mean_posting_list_length": round(mean_list_length, 2), "config": asdict(config),
             "vectors": str(Path(vectors_dir).resolve())}
    write_text_atomically(index_dir / CONFIG_FILE, json.dumps(built, indent=2) + "\n")
    return built


class SeismicHit(NamedTuple):
    """A hit with the two fields Pyserini's run writers read."""

    docid: str
    score: float


class SeismicSearcher:
    """Search a Seismic index with a Pyserini-style query encoder (``encode(text) -> {term: weight}``):
    ``search(q, k)`` and ``batch_search(queries, qids, k, threads)`` as ``LuceneImpactSearcher``'s."""

    def __init__(self, index_dir: str | os.PathLike, query_encoder=None, query_cut: int | None = None,
                 heap_factor: float | None = None) -> None:
        seismic = require_seismic()
        index_dir = Path(index_dir)
        if not (index_dir / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{index_dir}: no {CONFIG_FILE}: not a finished Seismic index "
                                    "(build it with python -m splare_pyserini.seismic)")
        self.info = json.loads((index_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        config = SeismicConfig.from_dict(self.info["config"])
        self.query_cut = config.query_cut if query_cut is None else int(query_cut)
        self.heap_factor = config.heap_factor if heap_factor is None else float(heap_factor)
        self.index = seismic.SeismicIndex.load(str(index_dir / INDEX_FILE))
        self.query_encoder = query_encoder

    def search_vector(self, vector: dict[str, float], k: int = 10, qid: str = "q") -> list[SeismicHit]:
        if not vector:
            return []
        results = self.index.search(qid, *components(vector), k=int(k), query_cut=self.query_cut,
                                    heap_factor=self.heap_factor)
        return [SeismicHit(docid, float(score)) for _, score, docid in results]

    def search(self, q: str, k: int = 10) -> list[SeismicHit]:
        return self.search_vector(self.query_encoder.encode(q), k)

    def batch_search(self, queries: list[str], qids: list[str], k: int = 10, threads: int = 1) -> dict[str, list[SeismicHit]]:
        return self.batch_search_vectors(qids, [self.query_encoder.encode(q) for q in queries], k, threads)

    def batch_search_vectors(self, qids: list[str], vectors: list[dict[str, float]], k: int = 10,
                             threads: int = 1) -> dict[str, list[SeismicHit]]:
        """Already encoded queries (``encode --topics`` output), searched on ``threads`` threads."""
        out: dict[str, list[SeismicHit]] = {qid: [] for qid in qids}
        asked = [(qid, v) for qid, v in zip(qids, vectors) if v]
        if asked:
            terms, values = zip(*(components(v) for _, v in asked))
            results = self.index.batch_search(np.array([q for q, _ in asked], dtype=require_seismic().get_seismic_string()),
                                              list(terms), list(values), k=int(k), query_cut=self.query_cut,
                                              heap_factor=self.heap_factor, num_threads=int(threads))
            for hits in results:  # not in query order: each hit names its query
                for qid, score, docid in hits:
                    out[qid].append(SeismicHit(docid, float(score)))
        return out


def write_run(output: str | os.PathLike, results: dict[str, list], hits: int, output_format: str = "trec",
              tag: str = "splare-seismic") -> None:
    """A run with Pyserini's own run writer, written beside and renamed: whole or absent."""
    from pyserini.output_writer import OutputFormat, get_output_writer

    tmp = Path(str(output) + ".tmp")
    with get_output_writer(str(tmp), OutputFormat(output_format), "w", max_hits=hits, tag=tag) as writer:
        for qid, qhits in results.items():
            writer.write(qid, qhits)
    os.replace(tmp, output)


def search_encoded_topics(searcher: SeismicSearcher, encoded_queries: str | os.PathLike, output: str | os.PathLike,
                          hits: int = 1000, threads: int = 1) -> int:
    """Search the queries ``python -m splare_pyserini.encode --topics`` wrote (``queries.jsonl``)."""
    qids, vectors = zip(*iter_vectors(Path(encoded_queries)))
    write_run(output, searcher.batch_search_vectors(list(qids), list(vectors), hits, threads), hits)
    return len(qids)


def search_topics(searcher: SeismicSearcher, topics: str | os.PathLike, output: str | os.PathLike, hits: int = 1000,
                  batch_size: int = 64, threads: int = 1, output_format: str = "trec") -> int:
    """Encode and search every topic of a BEIR ``queries.jsonl`` or ``qid<TAB>text`` file."""
    from tqdm import tqdm

    from splare_pyserini.io.readers import read_topics

    records, results = list(read_topics(topics)), {}
    for start in tqdm(range(0, len(records), batch_size), desc="seismic search", unit="batch"):
        batch = records[start: start + batch_size]
        results.update(searcher.batch_search([r.text for r in batch], [r.docid for r in batch], k=hits, threads=threads))
    write_run(output, {r.docid: results[r.docid] for r in records}, hits, output_format)
    return len(records)


# Pyserini's search flags a Seismic index applies; any other one set to a non-default value is an error.
SEISMIC_APPLIES = {"index", "topics", "output", "hits", "batch_size", "threads", "output_format", "encoder",
                   "language", "impact", "bm25"}


def search_parser() -> argparse.ArgumentParser:
    """Pyserini's own search flags (``define_search_args``), so a Lucene command line works with
    ``--backend seismic`` unchanged, and Seismic's two search knobs."""
    from pyserini.search.lucene.__main__ import define_search_args

    parser = argparse.ArgumentParser(prog="python -m splare_pyserini.search --backend seismic")
    define_search_args(parser.add_argument_group(
        "Pyserini's search flags (Seismic applies --index --topics --output --hits --batch-size --threads "
        "--output-format --encoder, and --language for --hybrid query words)"))
    knobs = parser.add_argument_group("Seismic's search knobs")
    knobs.add_argument("--query-cut", type=int, default=None, help="query terms kept (default: the index's)")
    knobs.add_argument("--heap-factor", type=float, default=None, help="block-skipping factor (default: the index's)")
    return parser


def search_main(argv: list[str], hybrid: dict | None = None) -> int:
    """``python -m splare_pyserini.search --backend seismic ...``: a Pyserini search command line
    over a Seismic index. A Lucene-only option (``--rm3``, ``--fields``, a ``--min-idf`` that drops
    terms, ...) is refused by name rather than ignored."""
    from splare_pyserini.lucene.query_encoders import SplareHybridQueryEncoder, SplareQueryEncoder

    parser = search_parser()
    args = parser.parse_args(argv)
    refused = [action.option_strings[0] for action in parser._actions
               if action.option_strings and action.dest not in SEISMIC_APPLIES | {"help", "query_cut", "heap_factor"}
               and getattr(args, action.dest) != action.default and not (action.dest == "min_idf" and args.min_idf < 0)]
    if refused:
        parser.error(f"{', '.join(refused)}: Lucene search options that a Seismic index does not apply")
    if not args.output:
        parser.error("--output is required")
    encoder_name = args.encoder or "default"
    encoder = SplareHybridQueryEncoder(encoder_name, **hybrid) if hybrid else SplareQueryEncoder(encoder_name)
    searcher = SeismicSearcher(args.index, encoder, query_cut=args.query_cut, heap_factor=args.heap_factor)
    n = search_topics(searcher, args.topics, args.output, hits=args.hits, batch_size=args.batch_size,
                      threads=args.threads, output_format=args.output_format)
    logger.info("%s: %d topics searched", args.output, n)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m splare_pyserini.seismic",
                                     description="Build a Seismic index from JsonVectorCollection files.")
    parser.add_argument("--input", required=True, help="the folder python -m splare_pyserini.encode wrote")
    parser.add_argument("--index", required=True, help="the index folder to write")
    parser.add_argument("--threads", type=int, default=0, help="build threads (0: all cores)")
    knobs = parser.add_argument_group("Seismic knobs (build: Seismic's own defaults; search: chosen on the SQuAD dev set)")
    defaults = SeismicConfig()
    for f in fields(SeismicConfig):
        default = getattr(defaults, f.name)
        knobs.add_argument("--" + f.name.replace("_", "-"), type=int if f.name == "n_postings" else type(default),
                           default=default, help="default: postings_share x the mean posting-list length"
                           if f.name == "n_postings" else None)
    knobs.add_argument("--exact", action="store_true", help="no approximation (Lucene's ranking; for checks)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    config = SeismicConfig(**{f.name: getattr(args, f.name) for f in fields(SeismicConfig)})
    built = build_index(args.input, args.index, config, num_threads=args.threads, exact=args.exact)
    logger.info("%s: %d documents in %.1f s, %d bytes", args.index, built["documents"], built["seconds"], built["index_bytes"])
    return 0
