"""Training examples for SPLARE: (query, positive, negatives...) rows from judged or label-free data.

Sources (each a small typed config, see :mod:`splare_pyserini.train`):

- ``triples``: MS MARCO-style TSV, ``query<TAB>positive<TAB>negative`` texts, or ids with
  ``collection`` + ``queries`` files to resolve them;
- ``qrels``: a BEIR-layout folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``),
  one example per judged (query, relevant document) pair;
- ``label_free``: pairs built from a raw corpus with no judgements, ``title_body`` (title
  -> text) or ``spans`` (first sentence(s) -> the rest of the document).

Hard negatives for ``qrels`` and ``label_free`` sources are mined with Pyserini BM25 (a
real Lucene index built by Pyserini's own CLI over the source corpus), judged positives
excluded, and documents containing one of the query's answer strings excluded too where
the source has an ``answers.jsonl`` (SQuAD's false-negative filter).
Every error names the file, the line and the field at fault, before any training starts.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from splare_pyserini.io.readers import InputFormatError, _decode, _raw_lines, json_object_lines, read_corpus, read_qrels, read_topics

from splare_pyserini.training.config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class Example:
    """One training row: the query, its positive document and zero or more hard negatives."""

    query: str
    positive: str
    negatives: list[str] = field(default_factory=list)
    qid: str | None = None
    pos_id: str | None = None
    neg_ids: list[str] = field(default_factory=list)
    source: str = ""


# -- examples files (what a training run writes and reads back) ------------------------------
EXAMPLE_FIELDS = {f.name for f in dataclasses.fields(Example)}


def write_examples(examples: list[Example], path: Path) -> None:
    """Write ``train_data.jsonl`` atomically (one temporary per process: torchrun ranks may race)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for ex in examples:
            handle.write(json.dumps(dataclasses.asdict(ex), ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_examples(path: str | Path) -> list[Example]:
    """A ``train_data.jsonl[.gz]`` as a run wrote it (texts, ids, mined negatives), e.g. the
    first default's ``encode_scripts/train_configs/default_v1_train_data.jsonl.gz``, so an experiment can reuse
    exactly those examples."""
    path = Path(path)
    rows = []
    for lineno, obj in json_object_lines(path):
        unknown = sorted(set(obj) - EXAMPLE_FIELDS)
        if unknown:
            raise InputFormatError(path, lineno, f"unknown field {unknown[0]!r}")
        for key in ("query", "positive"):
            if not isinstance(obj.get(key), str) or not obj[key].strip():
                raise InputFormatError(path, lineno, f"field {key!r} is missing or empty")
        negatives, neg_ids = obj.get("negatives", []), obj.get("neg_ids", [])
        if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
            raise InputFormatError(path, lineno, "field 'negatives' must be a list of strings")
        if neg_ids and len(neg_ids) != len(negatives):
            raise InputFormatError(path, lineno, f"field 'neg_ids' has {len(neg_ids)} ids for {len(negatives)} negatives")
        rows.append(Example(**obj))
    return rows


# -- triples -------------------------------------------------------------------------------
def read_triples(path: str | Path, collection: str | None = None, queries: str | None = None) -> Iterator[Example]:
    """``query<TAB>pos<TAB>neg[<TAB>neg...]`` lines: texts, or ids resolved through collection/queries."""
    path = Path(path)
    docs = {r.docid: r.text for r in read_corpus(collection)} if collection else None
    topics = {r.docid: r.text for r in read_topics(queries)} if queries else None
    for lineno, raw in _raw_lines(path):
        line = _decode(path, lineno, raw)
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            missing = ("query", "positive", "negative")[len(parts)]
            raise InputFormatError(path, lineno, f"field {missing!r} is missing: expected "
                                   f"query<TAB>positive<TAB>negative, got {len(parts)} field(s)")
        for column, value in zip(("query", "positive", *["negative"] * (len(parts) - 2)), parts):
            if not value.strip():
                raise InputFormatError(path, lineno, f"field {column!r} is empty")
        if docs is None:
            yield Example(parts[0], parts[1], parts[2:], source=str(path))
            continue
        qid, pos_id, neg_ids = parts[0].strip(), parts[1].strip(), [p.strip() for p in parts[2:]]
        if qid not in topics:
            raise InputFormatError(path, lineno, f"field 'query': id {qid!r} is not in {queries}")
        for column, docid in [("positive", pos_id)] + [("negative", n) for n in neg_ids]:
            if docid not in docs:
                raise InputFormatError(path, lineno, f"field {column!r}: id {docid!r} is not in {collection}")
        yield Example(topics[qid], docs[pos_id], [docs[n] for n in neg_ids], qid, pos_id, neg_ids, str(path))


# -- judged pairs --------------------------------------------------------------------------
@dataclass
class JudgedSet:
    """A BEIR-layout folder read for training: texts plus judged pairs, all ids checked."""

    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus_path: Path
    answers: dict[str, list[str]] = field(default_factory=dict)

    def positives(self) -> dict[str, set[str]]:
        """Per query, the documents judged relevant (relevance > 0)."""
        return {q: {d for d, r in docs.items() if r > 0} for q, docs in self.qrels.items()}


def read_judged(folder: str | Path, split: str = "train") -> JudgedSet:
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for required in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not required.exists():
            raise FileNotFoundError(f"{required}: missing (a BEIR folder needs corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    corpus = {r.docid: r.text for r in read_corpus(folder / "corpus.jsonl")}
    queries = {r.docid: r.text for r in read_topics(folder / "queries.jsonl")}
    qrels = read_qrels(qrels_path)
    _check_qrels_ids(qrels_path, qrels, corpus, queries)
    answers: dict[str, list[str]] = {}
    if (folder / "answers.jsonl").exists():
        for lineno, obj in json_object_lines(folder / "answers.jsonl"):
            if "_id" not in obj:
                raise InputFormatError(folder / "answers.jsonl", lineno, "missing id field '_id'")
            answers[str(obj["_id"])] = [a for a in obj.get("answers", []) if isinstance(a, str) and a.strip()]
    return JudgedSet(corpus, queries, qrels, folder / "corpus.jsonl", answers)


def _check_qrels_ids(path: Path, qrels: dict, corpus: dict, queries: dict) -> None:
    """Unknown ids in training qrels are an error (a typo would silently shrink the training set).
    The file is read again only to name the line of a bad pair."""
    for qid, judged in qrels.items():
        for docid in judged:
            if qid not in queries:
                raise InputFormatError(path, _qrels_line(path, qid, docid), f"field 'query-id': {qid!r} is not in queries.jsonl")
            if docid not in corpus:
                raise InputFormatError(path, _qrels_line(path, qid, docid), f"field 'corpus-id': {docid!r} is not in corpus.jsonl")


def _qrels_line(path: Path, qid: str, docid: str) -> int:
    """The first line of a qrels file (BEIR 3 columns or TREC 4) judging ``qid``/``docid``; 0 if none."""
    for lineno, raw in _raw_lines(path):
        parts = _decode(path, lineno, raw).split()
        if len(parts) >= 3 and (parts[0], parts[-2]) == (qid, docid):
            return lineno
    return 0


def write_corpus(path: Path, docs) -> None:
    """A BEIR ``corpus.jsonl`` of (docid, text) pairs (the text already holds any title)."""
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps({"_id": d, "title": "", "text": t}, ensure_ascii=False) + "\n" for d, t in docs)


def write_beir_folder(folder: Path, docs, queries, qrels: dict[str, dict[str, int]]) -> None:
    """A BEIR test folder: ``corpus.jsonl`` of (docid, text), ``queries.jsonl`` of (qid, text) in
    the order given, and ``qrels/test.tsv`` with the judgements of those queries (qids sorted)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    write_corpus(folder / "corpus.jsonl", docs)
    queries = list(queries)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n" for q, t in queries)
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        out.writelines(f"{q}\t{d}\t{r}\n" for q in sorted(q for q, _ in queries) for d, r in sorted(qrels[q].items()))


def read_id_list(path: str | Path) -> set[str]:
    """Ids one per line (blank lines and ``#`` comments skipped)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing (exclude_docs names a file of document ids, one per line)")
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")}


def without_documents(judged: JudgedSet, excluded: set[str], work_dir: Path) -> JudgedSet:
    """``judged`` minus the documents in ``excluded`` and every query judging one of them; the
    remaining corpus is written to ``work_dir/corpus.jsonl`` (what BM25 mines negatives from)."""
    qrels = {q: docs for q, docs in judged.qrels.items() if not excluded.intersection(docs)}
    corpus = {d: t for d, t in judged.corpus.items() if d not in excluded}
    work_dir.mkdir(parents=True, exist_ok=True)
    corpus_path = work_dir / "corpus.jsonl"
    write_corpus(corpus_path, corpus.items())
    logger.info("%s: %d documents and %d queries held out", judged.corpus_path.parent,
                len(judged.corpus) - len(corpus), len(judged.qrels) - len(qrels))
    return JudgedSet(corpus, {q: judged.queries[q] for q in qrels}, qrels, corpus_path,
                     {q: a for q, a in judged.answers.items() if q in qrels})


def judged_examples(judged: JudgedSet, source: str) -> list[Example]:
    """One example per (query, relevant document); relevance <= 0 is not a positive."""
    examples = []
    for qid in sorted(judged.qrels):
        for docid, rel in sorted(judged.qrels[qid].items()):
            if rel > 0:
                examples.append(Example(judged.queries[qid], judged.corpus[docid], qid=qid, pos_id=docid, source=source))
    return examples


# -- label-free pairs ----------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def label_free_examples(corpus_path: str | Path, mode: str, source: str, min_words: int = 4) -> list[Example]:
    """Pseudo-queries from documents alone: ``title_body`` (title -> text) or ``spans``
    (first sentence -> the remaining text). Documents too short to split are skipped."""
    corpus_path = Path(corpus_path)
    examples = []
    for _, obj in json_object_lines(corpus_path):
        docid = str(obj.get("_id", obj.get("id", "")))
        title, text = (obj.get("title") or "").strip(), (obj.get("text") or obj.get("contents") or "").strip()
        if mode == "title_body":
            anchor, body = title, text
        else:
            sentences = _SENTENCE_END.split(text, maxsplit=1)
            anchor, body = (sentences[0], sentences[1]) if len(sentences) == 2 else ("", "")
        if len(anchor.split()) >= min_words and len(body.split()) >= min_words:
            examples.append(Example(anchor, body, qid=f"{source}/{docid}", pos_id=docid, source=source))
    if not examples:
        raise InputFormatError(corpus_path, 0, f"no label-free {mode} pairs could be built (titles/texts too short)")
    return examples


# -- hard negatives ------------------------------------------------------------------------
def mine_bm25_negatives(
    examples: list[Example],
    corpus: dict[str, str],
    corpus_path: Path,
    work_dir: Path,
    positives: dict[str, set[str]],
    n_negatives: int,
    depth: int,
    seed: int,
    answers: dict[str, list[str]] | None = None,
) -> None:
    """Fill ``example.negatives`` with documents Pyserini BM25 ranks in the top ``depth`` for the query,
    judged positives (and documents containing an answer string) excluded; sampled with ``seed``."""
    from splare_pyserini.lucene import pyserini_cli as lucene

    work_dir.mkdir(parents=True, exist_ok=True)
    index = work_dir / "bm25-index"
    if not any(index.glob("segments_*")):  # built once per work dir
        collection = lucene.write_bm25_collection(str(corpus_path), work_dir / "bm25-collection")
        lucene.index_bm25(collection.parent, index, log=work_dir / "bm25-index.log")
    topics = work_dir / "topics.tsv"
    queries = {}
    for ex in examples:
        queries.setdefault(ex.qid, " ".join(ex.query.split()))
    topics.write_text("".join(f"{qid}\t{text}\n" for qid, text in queries.items()), encoding="utf-8")
    run = work_dir / "bm25-run.txt"
    lucene.search_bm25(index, topics, run, hits=depth, log=work_dir / "bm25-search.log")
    ranked: dict[str, list[str]] = {}
    for line in run.read_text(encoding="utf-8").splitlines():
        qid, _, docid, *_ = line.split()
        ranked.setdefault(qid, []).append(docid)
    rng = random.Random(seed)
    missing = unfiltered = 0
    for ex in examples:
        answer_strings = [a.lower() for a in (answers or {}).get(ex.qid or "", [])]
        excluded = positives.get(ex.qid, set()) | {ex.pos_id}
        candidates = [d for d in ranked.get(ex.qid, []) if _allowed(d, corpus, excluded, answer_strings)]
        if len(candidates) < n_negatives:
            missing += 1
            # Random top-up under the same filters (positives, answer strings), no document twice.
            taken = set(candidates)
            pool = [d for d in corpus if d not in taken and _allowed(d, corpus, excluded, answer_strings)]
            if len(candidates) + len(pool) < n_negatives and answer_strings:
                # an answer found in (nearly) every document ("n", "2") tells no negative apart:
                # only the judged positives are kept out then
                unfiltered += 1
                pool = [d for d in corpus if d not in taken and d not in excluded]
            candidates += rng.sample(pool, min(n_negatives, len(pool)))
            if len(candidates) < n_negatives:
                raise ValueError(f"{corpus_path}: query {ex.qid!r} has only {len(candidates)} possible negatives, "
                                 f"{n_negatives} needed")
        ex.neg_ids = rng.sample(candidates, n_negatives)
        ex.negatives = [corpus[d] for d in ex.neg_ids]
    if missing:
        logger.warning("%s: %d queries had fewer than %d BM25 negatives; topped up with random documents",
                       corpus_path, missing, n_negatives)
    if unfiltered:
        logger.warning("%s: %d queries have an answer string in nearly every document; their negatives are "
                       "filtered by judged positives only", corpus_path, unfiltered)


def _allowed(docid: str, corpus: dict[str, str], excluded: set, answer_strings: list[str]) -> bool:
    """A negative is neither judged relevant nor contains one of the query's answer strings."""
    return docid not in excluded and not any(a in corpus[docid].lower() for a in answer_strings)


# -- teacher scores ------------------------------------------------------------------------
def read_teacher_scores(path: str | Path) -> dict[tuple[str, str], float]:
    """Teacher scores per (qid, docid): a TREC run (``qid Q0 docid rank score tag``) or ``qid docid score``."""
    path = Path(path)
    scores: dict[tuple[str, str], float] = {}
    for lineno, raw in _raw_lines(path):
        parts = _decode(path, lineno, raw).split()
        if not parts:
            continue
        if len(parts) == 6:
            qid, docid, value = parts[0], parts[2], parts[4]
        elif len(parts) == 3:
            qid, docid, value = parts
        else:
            raise InputFormatError(path, lineno, f"expected a TREC run line or 'qid docid score', got {len(parts)} fields")
        try:
            scores[(qid, docid)] = float(value)
        except ValueError:
            raise InputFormatError(path, lineno, f"field 'score' = {value!r} is not a number") from None
    if not scores:
        raise InputFormatError(path, 0, "no teacher scores")
    return scores


def teacher_labels(examples: list[Example], scores: dict[tuple[str, str], float], path: str) -> list[list[float]]:
    """Per example, the teacher's scores of [positive, negatives...]; every pair must be scored."""
    labels = []
    for ex in examples:
        row = []
        for docid in [ex.pos_id, *ex.neg_ids]:
            key = (ex.qid, docid)
            if key not in scores:
                raise ValueError(f"{path}: no teacher score for query {ex.qid!r}, document {docid!r}")
            row.append(scores[key])
        labels.append(row)
    return labels


# -- a run's training set -------------------------------------------------------------------
def build_examples(config: TrainConfig, work_dir: Path) -> list[Example]:
    """Read every source, cap it, mine its hard negatives; errors name file and line before training."""
    data = config.data
    rng = random.Random(config.train.seed)
    examples: list[Example] = []
    for number, source in enumerate(data.sources):
        if source.kind in ("triples", "examples"):
            # examples files keep the source each row came from; triples get this source's label
            rows = (read_examples(source.path) if source.kind == "examples"
                    else list(read_triples(source.path, source.collection, source.queries)))
            for row in rows:
                row.source = row.source if source.kind == "examples" and row.source else source.label
            rows = _cap(rows, source.max_examples, rng)
            if data.hard_negatives:
                for row in rows:
                    if len(row.negatives) < data.hard_negatives:
                        raise ValueError(f"{source.path}: a triple has {len(row.negatives)} negatives, "
                                         f"data.hard_negatives={data.hard_negatives}")
                    row.negatives, row.neg_ids = row.negatives[: data.hard_negatives], row.neg_ids[: data.hard_negatives]
            else:
                for row in rows:
                    row.negatives, row.neg_ids = [], []
        else:
            if source.kind == "qrels":
                judged = read_judged(source.path, source.split)
                if source.exclude_docs:
                    judged = without_documents(judged, read_id_list(source.exclude_docs), work_dir / f"source-{number}")
                rows = _cap(judged_examples(judged, source.label), source.max_examples, rng)
                corpus, corpus_path, answers = judged.corpus, judged.corpus_path, judged.answers
                positives = judged.positives()
            else:
                corpus_path = Path(source.path)
                corpus = {r.docid: r.text for r in read_corpus(corpus_path)}
                rows = _cap(label_free_examples(corpus_path, source.mode, source.label), source.max_examples, rng)
                positives, answers = {r.qid: {r.pos_id} for r in rows}, {}
            if data.hard_negatives and source.mine_negatives:
                mine_bm25_negatives(rows, corpus, corpus_path, work_dir / f"source-{number}", positives,
                                    data.hard_negatives, data.bm25_depth, config.train.seed + number, answers)
            elif data.hard_negatives:
                raise ValueError(f"source {source.label}: data.hard_negatives={data.hard_negatives} "
                                 "but mine_negatives is false")
        logger.info("source %s: %d examples", source.label, len(rows))
        examples.extend(rows)
    if not examples:
        raise ValueError("the training set is empty: every source gave 0 examples")
    return examples


def _cap(rows: list[Example], limit: int | None, rng: random.Random) -> list[Example]:
    if limit is None or len(rows) <= limit:
        return rows
    return rng.sample(rows, limit)


def to_dataset(examples: list[Example], config: TrainConfig):
    """A ``datasets.Dataset`` with anchor/positive/negative_i columns (+ label for distillation)."""
    from datasets import Dataset

    columns: dict[str, list] = {"anchor": [e.query for e in examples], "positive": [e.positive for e in examples]}
    for i in range(config.data.hard_negatives):
        columns[f"negative_{i + 1}"] = [e.negatives[i] for e in examples]
    if config.loss.kind != "infonce":
        scores = teacher_labels(examples, read_teacher_scores(config.data.teacher_scores), config.data.teacher_scores)
        scores = [[config.data.teacher_scale * value for value in row] for row in scores]
        if config.loss.kind == "margin_mse":
            columns["label"] = [[row[0] - neg for neg in row[1:]] for row in scores]
        else:
            columns["label"] = scores
    return Dataset.from_dict(columns)
