"""Why did this document match? A hit's score, latent by latent, with the latents' labels.

    python -m splare_pyserini.explain --encoder MODEL --query "what causes scurvy?"
    python -m splare_pyserini.explain --encoder MODEL --index IDX --query "..." --docid D [--json] [--html hit.html]
    python -m splare_pyserini.explain --encoder MODEL --index IDX --run RUN --topics queries.jsonl --qid Q --rank 1
    python -m splare_pyserini.explain --encoder MODEL --index HYBRID_IDX --hybrid [--hybrid-alpha A] --query "..." --docid D

An impact score is exactly the dot product of the integer query and document weights, so a
hit decomposes into per-latent contributions ``q_w x d_w``; on a hybrid index
(:mod:`splare_pyserini.lucene.hybrid`, ``--hybrid``) the BM25 words' contributions are listed apart
from the latents', and both parts together sum to the score. The document weights are read
back from the Lucene index (the stored vector, else the postings), the hit's score from a
real ``LuceneImpactSearcher`` search, and the contributions are checked to sum to it (exit 1
if not). From Python: :func:`explain_hit` for a ``LuceneImpactSearcher`` hit.
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field

from splare_pyserini.modeling.model import SplareModel
from splare_pyserini.lucene.query_encoders import SplareQueryEncoder
from splare_pyserini.lucene.hybrid import is_word_term
from splare_pyserini.lucene.impact_searcher import search_encoded
from splare_pyserini.modeling.sparse_vectors import latent_index, latent_name


@dataclass
class Contribution:
    term: str
    """The Lucene term: a latent (``f1234``) or, on a hybrid index, a BM25 word (``w_<word>``)."""
    label: str
    query_weight: int
    doc_weight: int
    product: int

    @property
    def kind(self) -> str:
        return "word" if is_word_term(self.term) else "latent"

    @property
    def latent(self) -> int | None:
        return None if self.kind == "word" else latent_index(self.term)


@dataclass
class Explanation:
    """A query's latents and, for a document, the shared latents' contributions to its score."""

    query: str
    query_latents: list[dict]  # {latent, label, weight}, strongest first
    docid: str | None = None
    score: float | None = None  # what Lucene returned for the hit (None: not retrieved in the top k)
    contributions: list[Contribution] = field(default_factory=list)
    document: str | None = None  # the indexed text, when the index stores it
    query_words: list[dict] = field(default_factory=list)  # {word, weight} of a hybrid query

    @property
    def total(self) -> int:
        return sum(c.product for c in self.contributions)

    def part(self, kind: str) -> list[Contribution]:
        """The contributions of the latents (``latent``) or of the BM25 words (``word``)."""
        return [c for c in self.contributions if c.kind == kind]

    @property
    def matches_lucene(self) -> bool | None:
        """Contributions sum to Lucene's score (float32 sums of integers: exact below 2**24)."""
        return None if self.score is None else abs(self.total - self.score) <= 1e-4 * max(1.0, abs(self.score))

    def to_dict(self) -> dict:
        parts = {kind: sum(c.product for c in self.part(kind)) for kind in ("latent", "word")}
        return {"query": self.query, "docid": self.docid, "score": self.score, "total": self.total,
                "total_latents": parts["latent"], "total_words": parts["word"],
                "matches_lucene": self.matches_lucene, "query_latents": self.query_latents,
                "query_words": self.query_words,
                "contributions": [{"latent": c.latent, **asdict(c), "kind": c.kind} for c in self.contributions]}


# -- pieces ---------------------------------------------------------------------------------
def _labeller(model: SplareModel | None):
    labels = model.latent_labels if model is not None else None
    return labels.label if labels is not None else (lambda latent: "")


def query_latents(impacts: dict[str, int], label) -> list[dict]:
    ranked = sorted(((n, w) for n, w in impacts.items() if not is_word_term(n)), key=lambda kv: (-kv[1], latent_index(kv[0])))
    return [{"latent": latent_index(n), "label": label(latent_index(n)), "weight": w} for n, w in ranked]


def query_words(impacts: dict[str, int]) -> list[dict]:
    """A hybrid query's BM25 words (``alpha``-weighted query term counts), strongest first."""
    ranked = sorted(((n, w) for n, w in impacts.items() if is_word_term(n)), key=lambda kv: (-kv[1], kv[0]))
    return [{"word": n, "weight": w} for n, w in ranked]


def document_impacts(reader, docid: str, latents: list[str]) -> tuple[dict[str, int], str | None]:
    """The indexed weights of ``latents`` in ``docid`` (stored vector if the index has ``--storeRaw``,
    else Lucene's postings: the term frequencies impact scoring reads) and the stored text."""
    document = reader.doc(docid)
    if document is None:
        raise KeyError(f"document {docid!r} is not in the index")
    raw = document.raw()
    if raw:
        stored = json.loads(raw)
        vector = stored.get("vector") or {}
        return {n: int(vector[n]) for n in latents if n in vector}, stored.get("contents")
    from jnius import autoclass

    bytes_ref, multi_terms = autoclass("org.apache.lucene.util.BytesRef"), autoclass("org.apache.lucene.index.MultiTerms")
    internal = reader.convert_collection_docid_to_internal_docid(docid)
    weights = {}
    for name in latents:
        postings = multi_terms.getTermPostingsEnum(reader.reader, "contents", bytes_ref(name.encode("utf-8")))
        if postings is not None and postings.advance(internal) == internal:
            weights[name] = int(postings.freq())
    return weights, None


def contributions(q: dict[str, int], d: dict[str, int], label) -> list[Contribution]:
    rows = [Contribution(n, "" if is_word_term(n) else label(latent_index(n)), q[n], d[n], q[n] * d[n]) for n in q if n in d]
    return sorted(rows, key=lambda c: (-c.product, c.term))


def searched_query(searcher, query: str) -> dict[str, int]:
    """The query weights a ``LuceneImpactSearcher`` really sends to Lucene (its min_idf filter applied)."""
    return {t: w for t, w in searcher.encode(query).items() if t in searcher.idf and searcher.idf[t] > searcher.min_idf}


@functools.lru_cache(maxsize=4)
def _index_reader(index_dir: str):
    """One Lucene reader per index, kept: explaining every hit of a run must not reopen it each time."""
    from pyserini.index.lucene import LuceneIndexReader

    return LuceneIndexReader(index_dir)


def explain_hit(searcher, query: str, hit=None, docid: str | None = None, k: int = 1000) -> Explanation:
    """Explain a ``LuceneImpactSearcher`` hit (or ``docid``, searched to depth ``k`` for its score)."""
    model = getattr(searcher.query_encoder, "model", None)
    label = _labeller(model)
    q = searched_query(searcher, query)
    docid = hit.docid if hit is not None else docid
    score = float(hit.score) if hit is not None else next(
        (float(h.score) for h in search_encoded(searcher, q, k) if h.docid == docid), None)
    d, text = document_impacts(_index_reader(str(searcher.index_dir)), docid, list(q))
    return Explanation(query, query_latents(q, label), docid, score, contributions(q, d, label), text, query_words(q))


def query_only(searcher, query: str, model: SplareModel) -> Explanation:
    """The query as ``searcher`` sends it (latents, and a hybrid query's words), with no document."""
    q = searched_query(searcher, query)
    return Explanation(query, query_latents(q, _labeller(model)), query_words=query_words(q))


def explain_query(model: SplareModel, query: str) -> Explanation:
    q = SplareQueryEncoder(model).encode(query)
    return Explanation(query, query_latents(q, _labeller(model)))


# -- output ---------------------------------------------------------------------------------
def format_text(ex: Explanation, top: int = 20) -> str:
    lines = [f"query: {ex.query}", f"query latents ({len(ex.query_latents)}):"]
    lines += [f"  {latent_name(r['latent']):>7}  {r['weight']:>5}  {r['label']}" for r in ex.query_latents[:top]]
    if ex.query_words:
        lines += [f"query words ({len(ex.query_words)}, hybrid):"]
        lines += [f"  {r['word']:>16}  {r['weight']:>7}" for r in ex.query_words[:top]]
    if ex.docid is None:
        return "\n".join(lines)
    for kind, name in (("latent", "latents"), ("word", "words")):
        rows = ex.part(kind)
        if kind == "word" and not rows and not ex.query_words:
            continue
        lines += ["", f"document {ex.docid}: {len(rows)} shared {name}",
                  f"  {kind:>16}  {'q_w':>7}  {'d_w':>5}  {'q_w x d_w':>11}  label"]
        lines += [f"  {c.term:>16}  {c.query_weight:>7}  {c.doc_weight:>5}  {c.product:>11}  {c.label}" for c in rows[:top]]
        if len(rows) > top:
            lines.append(f"  ... {len(rows) - top} more {name}: {sum(c.product for c in rows[top:])}")
        lines.append(f"sum over {name}: {sum(c.product for c in rows)}")
    lines.append(f"sum of contributions: {ex.total}")
    if ex.score is None:
        lines.append("Lucene score: not retrieved in the searched depth (no check)")
    else:
        lines.append(f"Lucene score: {ex.score:g} ({'matches' if ex.matches_lucene else 'MISMATCH'})")
    return "\n".join(lines)
