"""Words beside latents in one Lucene impact index: a hit's score is ``alpha * BM25 + (1 - alpha) * SPLARE``.

Documents keep their SPLARE latents (``round(s * d)``, ``s`` the model's quantization scale) and get
one more term per analyzed word ``t``: ``w_<t>`` with impact ``round(s * bm25(t, d))``, where
``bm25(t, d) = idf(t) * tf / (tf + k1 * (1 - b + b * L / avgdl))`` is Lucene's ``BM25Similarity``
term score (its one-byte length norm and float32 arithmetic included), from the corpus's own
statistics (:class:`BM25Statistics`: one pass with Pyserini's analyzer, counting as Lucene counts).
Queries weight a latent ``round((1 - alpha) * w)`` (``w = round(s * q)``, its SPLARE query
weight) and a word ``round(alpha * s) * qtf``, so Lucene's impact score is
``s**2 * (alpha * BM25 + (1 - alpha) * SPLARE)`` up to quantization (:func:`quantization_bound`),
where ``SPLARE`` is the dot product of the quantized vectors over ``s**2``. The query carries
alpha: one index serves every alpha, and alpha 0 gives SPLARE's query exactly. Query weights
stay as small as SPLARE's on purpose: Pyserini's stock impact searcher (Anserini's ``search(Map,
k)``) expands a query into each term repeated ``weight`` times and analyzes that text, so its cost
grows with the sum of the weights (measured: weights 500x SPLARE's made a query 116x slower, 418 vs
3.6 ms at 10 hits on the SQuAD dev set); :class:`~splare_pyserini.lucene.impact_searcher.SplareImpactSearcher`
skips that text, but a hybrid index must stay fast with Pyserini's own searcher too.

Statistics are those of the corpus the statistics pass read: every shard of a corpus must be
encoded with the same ``bm25_stats.json`` (the encoder computes it over the whole ``--corpus``
whatever the shard, or takes ``--bm25-stats``); documents added later are weighted with the
statistics they were encoded with, until the corpus is re-encoded after a fresh pass.
"""
from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from splare_pyserini.modeling.sparse_vectors import PLACEHOLDER_TERM
from splare_pyserini.io.vector_writer import state_dir, write_text_atomically

WORD_PREFIX = "w_"
"""Word terms are ``w_<analyzed term>``: latent names are ``f<digits>`` and the empty-document
placeholder is ``[unused0]``, so a word can never be read as a latent."""
BM25_STATS_FILE = "bm25_stats.json"
PYSERINI_K1, PYSERINI_B = 0.9, 0.4
"""``pyserini.search.lucene --bm25`` defaults."""


def word_term(token: str) -> str:
    return WORD_PREFIX + token


def is_word_term(term: str) -> bool:
    return term.startswith(WORD_PREFIX)


class WordAnalyzer:
    """Pyserini's Lucene analyzer for ``language``: the one ``pyserini.index.lucene --language`` and
    ``pyserini.search.lucene --language`` use (``en``: Porter stemming, English stopwords)."""

    def __init__(self, language: str = "en") -> None:
        from splare_pyserini.lucene import java_env

        java_env.configure()
        from pyserini.analysis import Analyzer, get_lucene_analyzer

        self.language = language
        self._analyzer = Analyzer(get_lucene_analyzer(language=language))

    def term_counts(self, text: str) -> Counter:
        return Counter(self._analyzer.analyze(text))


@functools.lru_cache(maxsize=None)
def lucene_norm_length(length: int) -> int:
    """The document length Lucene's BM25 sees: ``length`` through its one-byte norm (``SmallFloat``)."""
    from splare_pyserini.lucene import java_env

    java_env.configure()
    from jnius import autoclass

    small_float = autoclass("org.apache.lucene.util.SmallFloat")
    return int(small_float.byte4ToInt(small_float.intToByte4(int(length))))


@dataclass
class BM25Statistics:
    """What Lucene's BM25 needs from a collection: document count, total length, document frequencies."""

    language: str = "en"
    k1: float = PYSERINI_K1
    b: float = PYSERINI_B
    doc_count: int = 0
    """Documents with at least one analyzed term (Lucene's ``docCount`` of the field)."""
    sum_total_term_freq: int = 0
    doc_freq: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, texts: Iterable[str], analyzer: WordAnalyzer, k1: float = PYSERINI_K1,
                   b: float = PYSERINI_B) -> "BM25Statistics":
        stats = cls(language=analyzer.language, k1=k1, b=b)
        doc_freq: Counter = Counter()
        for text in texts:
            counts = analyzer.term_counts(text)
            if counts:
                stats.doc_count += 1
                stats.sum_total_term_freq += sum(counts.values())
                doc_freq.update(counts.keys())
        stats.doc_freq = dict(sorted(doc_freq.items()))
        return stats

    @property
    def avgdl(self) -> np.float32:
        return np.float32(self.sum_total_term_freq / self.doc_count) if self.doc_count else np.float32(1.0)

    def idf(self, term: str) -> np.float32:
        df = self.doc_freq.get(term, 0)
        return np.float32(math.log(1 + (self.doc_count - df + 0.5) / (df + 0.5)))

    def term_weights(self, counts: Counter) -> dict[str, float]:
        """Lucene's BM25 score of each term of a document with these term frequencies (query boost 1)."""
        if not counts:
            return {}
        k1, b = np.float32(self.k1), np.float32(self.b)
        length = np.float32(lucene_norm_length(sum(counts.values())))
        norm_inverse = np.float32(1) / (k1 * ((np.float32(1) - b) + b * length / self.avgdl))
        weights = {}
        for term, tf in counts.items():
            weight = self.idf(term)
            weights[term] = float(weight - weight / (np.float32(1) + np.float32(tf) * norm_inverse))
        return weights

    def save(self, path: str | os.PathLike) -> Path:
        return write_text_atomically(Path(path), json.dumps(asdict(self), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BM25Statistics":
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown BM25 statistics fields {sorted(unknown)}")
        stats = cls(**values)
        if stats.doc_count <= 0 or stats.sum_total_term_freq <= 0:
            raise ValueError(f"{path}: doc_count and sum_total_term_freq must be positive "
                             f"(got {stats.doc_count}, {stats.sum_total_term_freq}): an empty corpus?")
        return stats


def document_word_impacts(counts: Counter, stats: BM25Statistics, scale: float) -> dict[str, int]:
    """``{w_<term>: round(scale * bm25)}`` for a document's analyzed term counts (zeros dropped)."""
    impacts = {}
    for term, weight in stats.term_weights(counts).items():
        impact = int(round(weight * scale))
        if impact > 0:
            impacts[word_term(term)] = impact
    return impacts


def check_alpha(alpha: float) -> float:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha!r} must be in [0, 1] (1: BM25 alone, 0: SPLARE alone)")
    return alpha


def hybrid_query(latent_impacts: dict[str, int], word_counts: Counter, alpha: float, scale: float) -> dict[str, int]:
    """A query vector whose impact score on a hybrid index is ``s^2 (alpha BM25 + (1 - alpha) SPLARE)``;
    ``latent_impacts`` are the SPLARE query's integer weights, ``word_counts`` its analyzed words."""
    check_alpha(alpha)
    query = {term: int(round((1 - alpha) * weight)) for term, weight in latent_impacts.items()}
    word_weight = int(round(alpha * scale))
    query.update({word_term(t): word_weight * n for t, n in word_counts.items()})
    return {term: weight for term, weight in query.items() if weight > 0}


def score_unit(scale: float) -> float:
    """Lucene's hybrid impact score divided by this is ``alpha * BM25 + (1 - alpha) * SPLARE``."""
    return scale * scale


def quantization_bound(latent_impacts: dict[str, int], word_counts: Counter, document: dict[str, int],
                       alpha: float, scale: float) -> float:
    """The most a hit's ``score / score_unit`` can differ from ``alpha * BM25 + (1 - alpha) * SPLARE``:
    the query latents' rounding (0.5 each, times the document's weight), the word weight's rounding
    (``round(alpha * s)``), and the document words' rounding (0.5 / s per matched occurrence)."""
    latents = sum(0.5 * document[t] for t in latent_impacts if t in document)
    matched = {t: n for t, n in word_counts.items() if word_term(t) in document}
    words = abs(round(alpha * scale) - alpha * scale) * sum(n * document[word_term(t)] for t, n in matched.items())
    words += alpha * scale * 0.5 * sum(matched.values())
    return (latents + words) / score_unit(scale)


def with_words(latent_impacts: dict[str, int], text: str, analyzer: WordAnalyzer, stats: BM25Statistics,
               scale: float) -> dict[str, int]:
    """A hybrid document vector: the document's latents and its BM25 word impacts."""
    return {**latent_impacts, **document_word_impacts(analyzer.term_counts(text), stats, scale)}


def add_words_to_vectors(splare_vectors: Path, out_dir: Path, analyzer: WordAnalyzer, stats: BM25Statistics,
                         scale: float) -> Path:
    """A hybrid JsonVectorCollection from a SPLARE one (no re-encode): each line's latents plus the
    BM25 word impacts of its ``contents``, part by part, each part written atomically (its temporary
    in the state directory: Anserini indexes every file under ``out_dir``, hidden ones too)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    temporaries = state_dir(out_dir)
    temporaries.mkdir(exist_ok=True)
    for part in sorted(Path(splare_vectors).glob("*.jsonl")):
        tmp = temporaries / f"{part.name}.tmp"
        with open(part, encoding="utf-8") as source, open(tmp, "w", encoding="utf-8") as target:
            for line in source:
                record = json.loads(line)
                latents = {t: w for t, w in record["vector"].items() if t != PLACEHOLDER_TERM}
                record["vector"] = with_words(latents, record["contents"], analyzer, stats, scale) or record["vector"]
                target.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, out_dir / part.name)
    return out_dir


def hybrid_topics(splare_queries: Path, out_dir: Path, analyzer: WordAnalyzer, alpha: float, scale: float) -> Path:
    """Hybrid ``queries.jsonl`` + ``topics.tsv`` (Pyserini's cached query encoder and topics) from a
    SPLARE query encode: each query's latents and analyzed words, weighted for ``alpha``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    with open(Path(splare_queries) / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            latents = {t: w for t, w in record["vector"].items() if t != PLACEHOLDER_TERM}
            record["vector"] = hybrid_query(latents, analyzer.term_counts(record["contents"]), alpha, scale)
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    write_text_atomically(out_dir / "queries.jsonl", "".join(lines))
    write_text_atomically(out_dir / "topics.tsv", (Path(splare_queries) / "topics.tsv").read_text(encoding="utf-8"))
    return out_dir
