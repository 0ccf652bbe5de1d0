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
"""
from __future__ import annotations

import functools
import json
from typing import Dict, List

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
    """Anserini's ``SimpleImpactSearcher.search(Map, k)`` minus its text query: the Lucene query
    built by its own generator, searched by its own ``_search`` (sort, tie-break, rerankers,
    ``ScoredDoc[]``) with no text to analyze. Anserini's own call where rerankers need the text or
    this Anserini lacks those members."""
    direct = getattr(java_searcher, "_search", None)
    if direct is None or not hasattr(java_searcher, "intToFloat") or java_searcher.use_rm3() or java_searcher.use_rocchio():
        return java_searcher.search(query_map, int(k))
    query = _query_generator().buildQuery("contents", java_searcher.intToFloat(query_map))
    return direct(query, "", int(k))


def search_encoded(searcher, impacts: dict[str, int], k: int = 10):
    """``searcher.search`` for a query already encoded (and min_idf-filtered, as Pyserini does),
    without encoding it again: the same Java call, the same hits."""
    return search_java_query(searcher.object, java_impact_query(impacts), k)


class PreEncodedQueries:
    """The query encoder of a searcher that is only given encoded queries (:func:`search_encoded`)."""

    def encode(self, text: str, **kwargs):
        raise RuntimeError("this searcher is given encoded queries only (search_encoded)")
