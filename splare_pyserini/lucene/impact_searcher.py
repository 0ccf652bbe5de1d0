"""Pyserini's ``LuceneImpactSearcher`` with each encoded query sent to Java in one call, and
searched without Anserini's detour through a text query.

Pyserini builds a query as a ``java.util.HashMap`` with one Python-to-Java ``put`` per term: 40
latents (more with a hybrid query's words) cost more than Lucene's own search at 10 hits.
:func:`java_impact_query` hands Java the whole query as one JSON string, parsed there by the
Jackson ``ObjectMapper`` Anserini ships (measured: 0.25 instead of 1.26 ms for 40 terms, under
load). Then Anserini's ``search(Map, k)`` writes the query out as text, each term repeated as
many times as its integer weight (thousands of tokens for 40 latents), and runs its analyzer over
that text only to hand the tokens to its rerankers (RM3, Rocchio), which impact search does not
use. :class:`SplareImpactSearcher` builds the same Lucene query with Anserini's own
``BagOfWordsQueryGenerator`` and calls Anserini's own ``_search`` with it and no text: the same
Lucene search, sort, tie-breaking and ``ScoredDoc`` results (tested hit for hit), about 1 ms less
per query at 10 hits on 40 latents (synthetic 5,000-document index, 2.1 -> 1.4 ms). Same
constructor, same min_idf filtering, same ``search``/``batch_search``; ``python -m
splare_pyserini.search`` runs Pyserini's CLI with it. Where those Anserini members are missing (another
Anserini) or a reranker is on, it is Anserini's ``search(Map, k)``.

Hits come back in one call too. Anserini's ``_search`` reads every hit's stored document (to get
its id) and makes a ``ScoredDoc`` per hit, which Python then crosses one by one: at 1,000 hits that
is ~30x Lucene's own search (Medline, stored vectors: 41 ms, search alone 1.2 ms). The id is already
in Lucene's result, as the value of the tie-breaking sort on the ``id`` doc values, so
:func:`search_java_query` runs Anserini's sorted search itself, hands the whole ``TopFieldDocs``
over as one JSON string (Jackson), and applies Anserini's only default reranker,
``ScoreTiesAdjusterReranker`` (scores rounded to 4 decimals, ties set 1e-6 apart, in float32 as
Java does) in :func:`adjust_score_ties`. :class:`ImpactHit` has ``ScoredDoc``'s fields
(``docid``, ``lucene_docid``, ``score``, ``lucene_document``, the last read when asked for).
"""
from __future__ import annotations

import base64
import functools
import json
from typing import Dict, List

import numpy as np

from pyserini.search.lucene._impact_searcher import LuceneImpactSearcher


@functools.cache
def _json_reader():
    from pyserini.pyclass import autoclass

    mapper = autoclass("com.fasterxml.jackson.databind.ObjectMapper")()
    return mapper.readerFor(autoclass("java.util.HashMap"))  # an ObjectReader: immutable, thread-safe


def java_impact_query(impacts: dict[str, int]):
    """An encoded query as the ``Map<String, Integer>`` Anserini's impact search takes, built in
    one Java call (term -> integer impact; JSON integers of this size parse as ``Integer``)."""
    return _json_reader().readValue(json.dumps({term: int(weight) for term, weight in impacts.items()}))


@functools.cache
def _query_generator():
    from pyserini.pyclass import autoclass

    return autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()


class SplareImpactSearcher(LuceneImpactSearcher):
    """``LuceneImpactSearcher`` whose PyTorch-encoded queries reach Java in one call each and are
    searched without the text detour; ONNX encoders (Java-side) are Pyserini's path unchanged."""

    def java_query(self, q: str):
        """Encode ``q`` and keep the terms Pyserini keeps (in the index, idf > min_idf)."""
        return java_impact_query({term: weight for term, weight in self.encode(q).items()
                                  if term in self.idf and self.idf[term] > self.min_idf})

    def search(self, q: str, k: int = 10, fields=dict()):
        if self.encoder_type != "pytorch" or fields:
            return super().search(q, k, fields)
        return search_java_query(self.object, self.java_query(q), k)

    def batch_search(self, queries: List[str], qids: List[str], k: int = 10, threads: int = 1,
                     fields=dict()) -> Dict[str, list]:
        if self.encoder_type != "pytorch" or fields:
            return super().batch_search(queries, qids, k, threads, fields)
        if int(threads) <= 1:
            return {qid: search_java_query(self.object, self.java_query(q), k) for q, qid in zip(queries, qids)}
        from pyserini.pyclass import JArrayList

        query_list, qid_list = JArrayList(), JArrayList()  # Anserini's thread pool: its search(Map, k)
        for q, qid in zip(queries, qids):
            query_list.add(self.java_query(q))
            qid_list.add(qid)
        results = self.object.batch_search(query_list, qid_list, int(k), int(threads))
        return {r.getKey(): r.getValue() for r in results.entrySet().toArray()}


def search_java_query(java_searcher, query_map, k: int):
    """Anserini's ``SimpleImpactSearcher.search(Map, k)`` minus its text query and its per-hit
    objects: the Lucene query built by its own generator, searched with its own sort and tie-break,
    the hits read in one call (:func:`read_hits`). Unlike Anserini's ``IndexSearcher.search(query, k,
    sort, true)``, the collector stops counting hits at k instead of 1,000 (nothing here reports a
    total), so Lucene skips non-competitive documents from the k-th hit on, and scores are the
    relevance sort's values, not a second scoring pass over every hit (``populateScores``): the same
    hits and float scores (tested), SciFact 1.25 -> 0.75 ms at 10 hits, 3.1 -> 1.5 ms at 1,000.
    Anserini's ``_search`` (``ScoredDoc[]``) for the first query of a searcher (it creates the
    ``IndexSearcher``) and with Lucene 8 scoring; Anserini's own call where rerankers need the text
    or this Anserini lacks those members."""
    direct = getattr(java_searcher, "_search", None)
    if direct is None or not hasattr(java_searcher, "intToFloat") or java_searcher.use_rm3() or java_searcher.use_rocchio():
        return java_searcher.search(query_map, int(k))
    query = _query_generator().buildQuery("contents", java_searcher.intToFloat(query_map))
    index_searcher = getattr(java_searcher, "searcher", None)
    if index_searcher is None or getattr(java_searcher, "backwardsCompatibilityLucene8", True):
        return direct(query, "", int(k))
    manager = _top_field_collectors().createSharedManager(java_searcher.BREAK_SCORE_TIES_BY_DOCID, int(k), None, int(k))
    return read_hits(index_searcher.search(query, manager), index_searcher)


@functools.cache
def _top_field_collectors():
    from pyserini.pyclass import autoclass

    return autoclass("org.apache.lucene.search.TopFieldCollector")


@functools.cache
def _json_writer():
    from pyserini.pyclass import autoclass

    return autoclass("com.fasterxml.jackson.databind.ObjectMapper")().writer()  # an ObjectWriter: thread-safe


class ImpactHit:
    """A hit with the fields of Anserini's ``ScoredDoc``; ``lucene_document`` is read on first use."""

    __slots__ = ("docid", "lucene_docid", "score", "_searcher", "_document")

    def __init__(self, docid: str, lucene_docid: int, score: float, searcher) -> None:
        self.docid, self.lucene_docid, self.score, self._searcher, self._document = docid, lucene_docid, score, searcher, None

    @property
    def lucene_document(self):
        if self._document is None:
            self._document = self._searcher.storedFields().document(self.lucene_docid)
        return self._document

    def __repr__(self) -> str:
        return f"ImpactHit(docid={self.docid!r}, lucene_docid={self.lucene_docid}, score={self.score})"


def read_hits(top, index_searcher) -> list[ImpactHit]:
    """The hits of a ``TopFieldDocs`` sorted by (score, id), crossed to Python as one JSON string of
    the whole Java object (touching ``top.scoreDocs`` from Python would make a proxy per hit): the id
    is the ``id`` sort value (its bytes), the score the relevance sort value (Lucene's float, the one
    a second scoring pass would give), then Anserini's tie adjustment."""
    hits = json.loads(_json_writer().writeValueAsString(top))["scoreDocs"]
    scores = adjust_score_ties(np.array([hit["fields"][0] for hit in hits], dtype=np.float32))
    b64decode = base64.b64decode
    return [ImpactHit(b64decode(ref["bytes"])[ref["offset"]: ref["offset"] + ref["length"]].decode("utf-8"),
                      hit["doc"], score, index_searcher)
            for hit, score in zip(hits, scores) for ref in (hit["fields"][1],)]  # BytesRef of the id doc value


def adjust_score_ties(scores: np.ndarray) -> list[float]:
    """Anserini's ``ScoreTiesAdjusterReranker`` in float32 as Java computes it: each score rounded to
    4 decimals (``Math.round(score * 10000.0) / 10000.0`` in double, then to float); a score within
    1e-4 of the (adjusted) one before it is the n-th of a tie and loses n * 1e-6. Rounding is done
    for all scores at once; the sequential rule runs only through tie chains."""
    rounded = (np.floor(scores.astype(np.float64) * 10000.0 + 0.5) / 10000.0).astype(np.float32)
    out = rounded.copy()
    gap, step = np.float32(1e-4), np.float32(1e-6)
    starts = np.flatnonzero(rounded[:-1] - rounded[1:] <= gap) + 1  # a tie can only begin where the rounded scores are close
    resume = 0
    for start in starts.tolist():
        if start < resume:
            continue
        i, tie = start, 0
        while i < len(out) and out[i - 1] - rounded[i] <= gap:  # out[i - 1] may already be lowered
            tie += 1
            out[i] = rounded[i] - step * np.float32(tie)
            i += 1
        resume = i  # out[i] stays rounded[i]: the chain is over
    return out.tolist()


def search_encoded(searcher, impacts: dict[str, int], k: int = 10):
    """``searcher.search`` for a query already encoded (and min_idf-filtered, as Pyserini does),
    without encoding it again: the same Java call, the same hits."""
    return search_java_query(searcher.object, java_impact_query(impacts), k)


class PreEncodedQueries:
    """The query encoder of a searcher that is only given encoded queries (:func:`search_encoded`)."""

    def encode(self, text: str, **kwargs):
        raise RuntimeError("this searcher is given encoded queries only (search_encoded)")
