"""Encode a corpus or topics into Lucene ``JsonVectorCollection`` JSONL, like ``python -m pyserini.encode``.

    python -m splare_pyserini.encode \\
      input   --corpus corpus.jsonl [--fields title text] [--shard-id 0 --shard-num 1] \\
      output  --embeddings DIR [--resume] \\
      encoder [--encoder MODEL_DIR] [--topk 400] [--max-length 512] [--batch-size 16] [--device cpu] \\
      hybrid  [--hybrid [--alpha A] [--bm25-stats FILE] [--language en] [--bm25-k1 0.9 --bm25-b 0.4]]

``--topics queries.jsonl`` (BEIR) or a ``qid<TAB>text`` TSV instead of ``--corpus`` writes
``DIR/queries.jsonl`` (what Pyserini's impact searcher takes as ``--encoder``) and
``DIR/topics.tsv`` (its ``--topics``). The group words ``input``/``output``/``encoder``
are optional. Without ``--encoder`` the embedded default model is used.

``--hybrid`` adds BM25 word impacts (Pyserini's analyzer, Lucene's BM25 formula) beside the
latents, for one index scored ``alpha * BM25 + (1 - alpha) * SPLARE`` (see
:mod:`splare_pyserini.lucene.hybrid`): documents need the corpus's BM25 statistics (computed over the
whole ``--corpus`` first, or ``--bm25-stats``), queries need ``--alpha`` (default: the model's
``hybrid_alpha``).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterator

from splare_pyserini.io.readers import Record, corpus_files, read_corpus, read_topics

logger = logging.getLogger(__name__)

GROUP_WORDS = ("input", "output", "encoder", "hybrid")
WINDOW_BATCHES = 16
"""Records are encoded in windows of ``batch_size * WINDOW_BATCHES`` (sorted by length inside a window)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m splare_pyserini.encode", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    group = parser.add_argument_group("input")
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", help="BEIR corpus.jsonl, Pyserini JSONL {id, contents}, MS MARCO TSV, "
                                         "or a directory of them (.gz accepted)")
    source.add_argument("--topics", help="queries: BEIR queries.jsonl or a 'qid<TAB>text' TSV")
    group.add_argument("--fields", nargs="+", default=None,
                       help="JSON text fields to join, in order (default: contents, else title + text)")
    group.add_argument("--shard-id", type=int, default=None,
                       help="this job's shard, 0-based (records i with i %% num == id); under torchrun: its RANK")
    group.add_argument("--shard-num", type=int, default=None,
                       help="number of shards the corpus is split into; under torchrun: its WORLD_SIZE")
    group.add_argument("--skip-bad", action="store_true", help="log and skip bad input lines instead of stopping")
    group = parser.add_argument_group("output")
    group.add_argument("--embeddings", required=True, help="output directory of JsonVectorCollection JSONL parts")
    group.add_argument("--resume", action="store_true", help="continue an interrupted encode into the same directory")
    group.add_argument("--records-per-part", type=int, default=10_000, help="records per output JSONL part")
    group = parser.add_argument_group("encoder")
    group.add_argument("--encoder", default=None, help="model directory (default: the embedded default model)")
    group.add_argument("--topk", type=int, default=None, help="latents kept per vector (default: the model's doc/query Top-K)")
    group.add_argument("--max-length", type=int, default=None, help="max tokens per text (default: the model's)")
    group.add_argument("--batch-size", type=int, default=16)
    group.add_argument("--device", default="cpu")
    group = parser.add_argument_group("hybrid")
    group.add_argument("--hybrid", action="store_true",
                       help="also write BM25 word impacts (documents) or analyzed query words (topics)")
    group.add_argument("--alpha", type=float, default=None,
                       help="topics: BM25's share of the hybrid score, 0..1 (default: the model's hybrid_alpha)")
    group.add_argument("--bm25-stats", default=None,
                       help="documents: BM25 statistics from an earlier pass (default: computed over the whole --corpus)")
    group.add_argument("--language", default="en", help="Pyserini analyzer language of the words (as its --language)")
    group.add_argument("--bm25-k1", type=float, default=0.9)
    group.add_argument("--bm25-b", type=float, default=0.4)
    return parser


def strip_group_words(argv: list[str]) -> list[str]:
    """Drop Pyserini-style group words, but not a value that happens to be spelled like one
    (``--embeddings output`` keeps its directory name)."""
    switches = {"--resume", "--skip-bad", "--hybrid", "-h", "--help"}
    kept = []
    for i, token in enumerate(argv):
        is_value = i > 0 and argv[i - 1].startswith("-") and argv[i - 1] not in switches
        if token in GROUP_WORDS and not is_value:
            continue
        kept.append(token)
    return kept


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(strip_group_words(sys.argv[1:] if argv is None else argv))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.shard_num is None and world > 1:  # launched by torchrun: one shard per process
        args.shard_id, args.shard_num = int(os.environ["RANK"]), world
        if args.device == "cuda":
            args.device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    args.shard_id = 0 if args.shard_id is None else args.shard_id
    args.shard_num = 1 if args.shard_num is None else args.shard_num
    if not 0 <= args.shard_id < args.shard_num:
        raise SystemExit(f"--shard-id {args.shard_id} must be in 0..{args.shard_num - 1} (--shard-num {args.shard_num})")
    if args.batch_size <= 0 or args.records_per_part <= 0:
        raise SystemExit("--batch-size and --records-per-part must be positive")
    if not args.hybrid and (args.alpha is not None or args.bm25_stats is not None):
        raise SystemExit("--alpha and --bm25-stats need --hybrid")
    if args.alpha is not None and not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha {args.alpha} must be in [0, 1] (1: BM25 alone, 0: SPLARE alone)")
    return args


def load_model(args: argparse.Namespace):
    from splare_pyserini.modeling.model import SplareModel

    model = SplareModel.from_pretrained(args.encoder, device=args.device)
    if args.max_length is not None:
        model.backbone.max_seq_length = args.max_length
    return model


def fingerprint(files: list[Path]) -> str:
    """Path, size and mtime of files: a resume (or a cached encode) must see the same input and model."""
    digest = hashlib.sha256()
    for file in sorted(files):
        stat = file.stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def model_files(folder: Path) -> list[Path]:
    """The files of a model directory that determine its vectors (not its card, training logs or
    latent labels)."""
    from splare_pyserini.modeling.latent_labels import LATENT_LABELS_FILE, LATENT_LABELS_INFO

    ignored = {"README.md", LATENT_LABELS_FILE, LATENT_LABELS_INFO}
    return [p for p in folder.rglob("*")
            if p.is_file() and p.name not in ignored and "training" not in p.relative_to(folder).parts]


def shard_records(records: Iterator[Record], shard_id: int, shard_num: int) -> Iterator[Record]:
    for i, record in enumerate(records):
        if i % shard_num == shard_id:
            yield record


def corpus_bm25_statistics(args: argparse.Namespace):
    """The BM25 statistics of a hybrid encode: ``--bm25-stats``, else those an earlier run of this
    encode saved, else a pass over the whole ``--corpus`` (every shard, so all shards agree),
    saved in the output's state directory. Returns (analyzer, statistics, the file they are in)."""
    from tqdm import tqdm

    from splare_pyserini.lucene.hybrid import BM25_STATS_FILE, BM25Statistics, WordAnalyzer
    from splare_pyserini.io.vector_writer import state_dir

    analyzer = WordAnalyzer(args.language)
    path = Path(args.bm25_stats) if args.bm25_stats else state_dir(Path(args.embeddings)) / BM25_STATS_FILE
    if path.exists():
        stats = BM25Statistics.load(path)
        if (stats.language, stats.k1, stats.b) != (args.language, args.bm25_k1, args.bm25_b):
            raise ValueError(f"{path}: statistics for language={stats.language} k1={stats.k1} b={stats.b}, "
                             f"but this encode asks for {args.language} {args.bm25_k1} {args.bm25_b}")
        return analyzer, stats, path
    if args.bm25_stats:
        raise FileNotFoundError(f"--bm25-stats {path}: no such file")
    texts = (r.text for r in tqdm(read_corpus(args.corpus, fields=args.fields, skip_bad=args.skip_bad),
                                  desc="BM25 statistics", unit="doc"))
    stats = BM25Statistics.from_texts(texts, analyzer, k1=args.bm25_k1, b=args.bm25_b)
    path.parent.mkdir(parents=True, exist_ok=True)
    stats.save(path)
    logger.info("BM25 statistics of %d documents (%d terms) saved in %s", stats.doc_count, len(stats.doc_freq), path)
    return analyzer, stats, path


def encode_corpus(args: argparse.Namespace, model=None) -> dict:
    """Encode ``args.corpus`` into ``args.embeddings``; returns counts and timings."""
    from tqdm import tqdm

    from splare_pyserini.lucene.hybrid import with_words
    from splare_pyserini.modeling.sparse_vectors import quantize
    from splare_pyserini.io.vector_writer import VectorWriter

    model = model or load_model(args)
    window = args.batch_size * WINDOW_BATCHES
    # Parts end on window boundaries, so a resumed run sees the same batches: byte-identical output.
    per_part = max(window, args.records_per_part // window * window)
    from splare_pyserini.modeling.model import ENCODER_REVISION

    settings = {
        "encoder": str(model.name_or_path), "encoder_revision": ENCODER_REVISION, "topk": args.topk, "max_length": model.backbone.max_seq_length,
        "fields": args.fields, "shard_id": args.shard_id, "shard_num": args.shard_num, "batch_size": args.batch_size,
        "records_per_part": per_part, "corpus": str(Path(args.corpus).resolve()), "fingerprint": fingerprint(corpus_files(args.corpus)),
        "model_fingerprint": fingerprint(model_files(Path(model.name_or_path))) if model.name_or_path else "in-memory",
        "scale": model.config.quantization_scale, "doc_top_k": model.config.doc_top_k,
    }
    words = corpus_bm25_statistics(args) if args.hybrid else None
    if words:
        # by content, not mtime: shards that each computed the same statistics must agree on resume
        settings["hybrid"] = {"language": args.language, "k1": args.bm25_k1, "b": args.bm25_b,
                              "bm25_stats": hashlib.sha256(words[2].read_bytes()).hexdigest()[:16]}
    prefix = "part" if args.shard_num == 1 else f"part-{args.shard_id:03d}-of-{args.shard_num:03d}"
    writer = VectorWriter(args.embeddings, settings, prefix=prefix, records_per_part=per_part, resume=args.resume)
    done = writer.records_done
    if writer.manifest.complete:
        logger.info("%s: already complete (%d records)", args.embeddings, done)
        return {"records": done, "empty": 0, "seconds": 0.0, "resumed_from": done}
    records = shard_records(read_corpus(args.corpus, fields=args.fields, skip_bad=args.skip_bad),
                            args.shard_id, args.shard_num)
    start, empty = time.time(), 0
    pbar = tqdm(desc="encode documents", unit="doc", initial=done, smoothing=0.1)
    batch: list[Record] = []

    def encode_window(window_records: list[Record]) -> None:
        nonlocal empty
        texts = [r.text for r in window_records]
        vectors = model.encode(texts, "document", batch_size=args.batch_size, top_k_override=args.topk)
        for record, vector in zip(window_records, vectors):
            impacts = quantize(vector, model.config.quantization_scale)
            empty += not impacts
            if words:
                impacts = with_words(impacts, record.text, words[0], words[1], model.config.quantization_scale)
            writer.add(record.docid, record.text, impacts)  # flushes a part every per_part records
        pbar.update(len(window_records))

    for j, record in enumerate(records):
        if j < done:
            continue
        batch.append(record)
        if len(batch) == window:
            encode_window(batch)
            batch = []
    if batch:
        encode_window(batch)
    writer.close()
    pbar.close()
    total = writer.records_done
    if empty:
        logger.warning("%d documents had no active latent (empty or all weights < 1/scale); "
                       "each was written with a placeholder term so its id stays findable", empty)
    return {"records": total, "empty": empty, "seconds": time.time() - start, "resumed_from": done}


def encode_topics(args: argparse.Namespace, model=None) -> dict:
    """Encode queries into ``DIR/queries.jsonl`` (Pyserini's cached query encoder) and ``DIR/topics.tsv``."""
    from splare_pyserini.lucene.query_encoders import normalize_query_text
    from splare_pyserini.io.vector_writer import vector_line, write_text_atomically

    model = model or load_model(args)
    records = list(read_topics(args.topics, skip_bad=args.skip_bad))
    texts = [normalize_query_text(r.text) for r in records]
    start = time.time()
    impacts = model.encode_impacts(texts, "query", batch_size=args.batch_size, top_k_override=args.topk)
    if args.hybrid:
        from splare_pyserini.lucene.hybrid import WordAnalyzer, hybrid_query

        alpha = args.alpha if args.alpha is not None else model.config.hybrid_alpha
        analyzer = WordAnalyzer(args.language)
        impacts = [hybrid_query(v, analyzer.term_counts(t), alpha, model.config.quantization_scale)
                   for v, t in zip(impacts, texts)]
        logger.info("hybrid queries: alpha=%g (BM25's share), words analyzed for language %s", alpha, args.language)
    seconds = time.time() - start
    out = Path(args.embeddings)
    out.mkdir(parents=True, exist_ok=True)
    targets = {out / "queries.jsonl": [vector_line(r.docid, t, v) for r, t, v in zip(records, texts, impacts)],
               out / "topics.tsv": [f"{r.docid}\t{t}\n" for r, t in zip(records, texts)]}
    for path, lines in targets.items():
        if path.exists() and not args.resume:
            raise FileExistsError(f"{path} exists; pass --resume to overwrite topics, or choose another directory")
        write_text_atomically(path, "".join(lines))
    return {"records": len(records), "seconds": seconds, "empty": sum(not v for v in impacts)}


def all_ranks_ok(ok: bool) -> bool:
    """Barrier at the end of a torchrun encode: True on every rank only if every rank finished."""
    import torch
    import torch.distributed as dist

    flag = torch.tensor([1 if ok else 0])
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    dist.destroy_process_group()
    return bool(flag.item())


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from splare_pyserini.io.readers import InputFormatError

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1 and args.corpus is not None
    if distributed:
        import torch.distributed as dist

        dist.init_process_group(backend="nccl" if args.device.startswith("cuda") else "gloo")
    ok, all_ok = False, True
    try:
        stats = encode_corpus(args) if args.corpus else encode_topics(args)
        ok = True
    except (InputFormatError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        if distributed:
            all_ok = all_ranks_ok(ok)
    if not ok:
        return 2
    if not all_ok:
        print("error: another rank failed; rerun the same command with --resume", file=sys.stderr)
        return 2
    rate = stats["records"] / stats["seconds"] if stats["seconds"] else float("nan")
    print(f"encoded {stats['records']} records into {args.embeddings} in {stats['seconds']:.1f} s "
          f"({rate:.1f} records/s)", file=sys.stderr)
    return 0
