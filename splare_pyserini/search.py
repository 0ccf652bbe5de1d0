"""Search raw-text topics with Pyserini's own CLI and SPLARE's query encoder.

    python -m splare_pyserini.search --index IDX --topics queries.jsonl --output run.txt \\
        --impact --encoder MODEL_DIR [any other pyserini.search.lucene flag]

This is ``python -m pyserini.search.lucene`` itself (its flags, its ``__main__``, its run
files): the only changes are that ``--encoder`` may name a SPLARE model directory (or
``default``, the embedded model), and ``--min-idf`` defaults to -1 so that no query
latent is dropped (Pyserini drops terms with idf <= min-idf, and an SAE latent can occur
in every document, where idf = log(N/df) = 0).
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

from . import java_env

NO_LATENT_DROPPED_MIN_IDF = "-1"


def is_splare_model(name: str | None) -> bool:
    from .model import SPLARE_CONFIG

    return name == "default" or (name is not None and Path(name, SPLARE_CONFIG).exists())


def install_query_encoder() -> None:
    """Let ``LuceneImpactSearcher(index, "<splare model dir>")`` build a :class:`SplareQueryEncoder`."""
    from pyserini.search.lucene import _impact_searcher

    original = _impact_searcher.LuceneImpactSearcher._init_query_encoder_from_str
    if getattr(original, "_splare", False):
        return

    def init_query_encoder(query_encoder):
        if is_splare_model(query_encoder):
            from .pyserini_encoders import SplareQueryEncoder

            return SplareQueryEncoder(query_encoder)
        return original(query_encoder)

    init_query_encoder._splare = True
    _impact_searcher.LuceneImpactSearcher._init_query_encoder_from_str = staticmethod(init_query_encoder)


def java_impact_query(impacts: dict[str, int]):
    """An encoded query as the Java map ``LuceneImpactSearcher.search`` sends to Anserini."""
    from pyserini.pyclass import JHashMap, JInt

    query = JHashMap()
    for term, weight in impacts.items():
        query.put(term, JInt(weight))
    return query


def search_encoded(searcher, impacts: dict[str, int], k: int = 10):
    """``searcher.search`` for a query already encoded (and min_idf-filtered, as Pyserini does),
    without encoding it again: the same Java call, the same hits."""
    return searcher.object.search(java_impact_query(impacts), k)


def with_default_min_idf(argv: list[str]) -> list[str]:
    if any(a == "--min-idf" or a.startswith("--min-idf=") for a in argv):
        return argv
    return [*argv, "--min-idf", NO_LATENT_DROPPED_MIN_IDF]


def main(argv: list[str] | None = None) -> None:
    java_env.configure()
    argv = sys.argv[1:] if argv is None else argv
    install_query_encoder()
    sys.argv = ["pyserini.search.lucene", *with_default_min_idf(argv)]
    runpy.run_module("pyserini.search.lucene", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
