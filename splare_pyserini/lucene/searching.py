"""Search raw-text topics with Pyserini's own CLI and SPLARE's query encoder.

    python -m splare_pyserini.search --index IDX --topics queries.jsonl --output run.txt \\
        --impact --encoder MODEL_DIR [any other pyserini.search.lucene flag]

This is ``python -m pyserini.search.lucene`` itself (its flags, its ``__main__``, its run
files), with SPLARE's defaults: ``--encoder`` may name a SPLARE model directory (or
``default``, the embedded model) and is ``default`` when not given (without it Pyserini would
send the raw query words to Lucene, which match no latent: an empty run, exit 0);
``--impact`` is implied; ``--min-idf`` defaults to -1 so that no query latent is dropped
(Pyserini drops terms with idf <= min-idf, and an SAE latent can occur in every document,
where idf = log(N/df) = 0). A topics path that would make Pyserini pick a topic reader by
its folder names (``cacm``, ``beir``) is handed over as JSON topics. After the search, queries
that matched no document are counted and reported as a warning.

On a hybrid index (``python -m splare_pyserini.encode --hybrid``), add ``--hybrid`` and optionally
``--hybrid-alpha A`` (BM25's share, default: the model's ``hybrid_alpha``); query words are
analyzed with Pyserini's analyzer for ``--language`` (default ``en``), as its BM25 search does.

``--backend seismic`` searches a Seismic index (:mod:`~splare_pyserini.backends.seismic`) instead, with the
same topics, encoder and run format. Lucene searches go through
:class:`~splare_pyserini.lucene.impact_searcher.SplareImpactSearcher` (one Java call per query).
"""
from __future__ import annotations

import argparse
import logging
import runpy
import sys
from pathlib import Path

from splare_pyserini.lucene import java_env

logger = logging.getLogger(__name__)

NO_LATENT_DROPPED_MIN_IDF = "-1"


def is_splare_model(name: str | None) -> bool:
    from splare_pyserini.modeling.model import SPLARE_CONFIG

    return name == "default" or (name is not None and Path(name, SPLARE_CONFIG).exists())


def install_query_encoder(hybrid: dict | None = None) -> None:
    """Let ``LuceneImpactSearcher(index, "<splare model dir>")`` build a :class:`SplareQueryEncoder`
    (with ``hybrid``, ``{"alpha": A, "language": L}``: a :class:`SplareHybridQueryEncoder`)."""
    from pyserini.search.lucene import _impact_searcher

    original = _impact_searcher.LuceneImpactSearcher._init_query_encoder_from_str
    original = getattr(original, "_original", original)

    def init_query_encoder(query_encoder):
        if is_splare_model(query_encoder):
            from splare_pyserini.lucene.query_encoders import SplareHybridQueryEncoder, SplareQueryEncoder

            return SplareHybridQueryEncoder(query_encoder, **hybrid) if hybrid else SplareQueryEncoder(query_encoder)
        return original(query_encoder)

    init_query_encoder._original = original

    _impact_searcher.LuceneImpactSearcher._init_query_encoder_from_str = staticmethod(init_query_encoder)


def backend_option(argv: list[str]) -> tuple[list[str], str]:
    """``--backend lucene`` (Pyserini's CLI, the default) or ``seismic``
    (:mod:`~splare_pyserini.backends.seismic`), removed from the flags handed on."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--backend", choices=["lucene", "seismic"], default="lucene")
    ours, rest = parser.parse_known_args(argv)
    return rest, ours.backend


def install_one_call_searcher() -> None:
    """Pyserini's CLI builds :class:`~splare_pyserini.lucene.impact_searcher.SplareImpactSearcher`, its
    own searcher sending each query to Java in one call (the name its ``__main__`` imports)."""
    from pyserini.search.lucene import _impact_searcher

    from splare_pyserini.lucene.impact_searcher import SplareImpactSearcher

    _impact_searcher.LuceneImpactSearcher = SplareImpactSearcher


def has_flag(argv: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def with_splare_defaults(argv: list[str]) -> list[str]:
    """``--impact``, ``--encoder default`` and ``--min-idf -1`` unless given."""
    argv = list(argv)
    if not has_flag(argv, "--impact"):
        argv.append("--impact")
    if not has_flag(argv, "--encoder") and not has_flag(argv, "--onnx-encoder"):
        logger.info("no --encoder: encoding queries with the embedded default SPLARE model")
        argv += ["--encoder", "default"]
    if not has_flag(argv, "--min-idf"):
        argv += ["--min-idf", NO_LATENT_DROPPED_MIN_IDF]
    return argv


def pyserini_args(argv: list[str]) -> argparse.Namespace:
    """Pyserini's own parse of a search command line."""
    from pyserini.search.lucene.__main__ import define_search_args

    parser = argparse.ArgumentParser(add_help=False)
    define_search_args(parser)
    return parser.parse_known_args(argv)[0]


def with_readable_topics(argv: list[str]) -> list[str]:
    """Replace a ``--topics`` file whose path would trigger a Pyserini reader by a JSON copy."""
    from splare_pyserini.lucene.pyserini_cli import pyserini_topics

    argv, flag = list(argv), "--topics="
    for i, token in enumerate(argv):
        if token == "--topics" and i + 1 < len(argv) and Path(argv[i + 1]).is_file():
            argv[i + 1] = str(pyserini_topics(argv[i + 1]))
        elif token.startswith(flag) and Path(token[len(flag):]).is_file():
            argv[i] = flag + str(pyserini_topics(token[len(flag):]))
    return argv


def warn_unmatched_queries(topics: str, topics_format: str, run: str | Path) -> int:
    """Warn, with the count, about queries that have no line in the run (they matched no document);
    returns that count."""
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    queried = [str(qid) for qid, _ in get_query_iterator(topics, TopicsFormat(topics_format))]
    with open(run, encoding="utf-8") as handle:
        found = {line.split()[0] for line in handle if line.strip()}
    unmatched = [q for q in queried if q not in found]
    if unmatched:
        logger.warning("%d of %d queries matched no document and have no line in %s (first: %s)%s",
                       len(unmatched), len(queried), run, ", ".join(unmatched[:5]),
                       ": were they encoded with the model that encoded the index?" if len(unmatched) == len(queried) else "")
    return len(unmatched)


def hybrid_options(argv: list[str]) -> tuple[list[str], dict | None]:
    """Take ``--hybrid`` and ``--hybrid-alpha A`` out of a command line (Pyserini does not know them);
    returns the rest and the hybrid query encoder's settings (None: not a hybrid search)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--hybrid", action="store_true")
    parser.add_argument("--hybrid-alpha", type=float, default=None)
    ours, rest = parser.parse_known_args(argv)
    if ours.hybrid_alpha is not None and not ours.hybrid:
        raise SystemExit("--hybrid-alpha needs --hybrid")
    if not ours.hybrid:
        return rest, None
    if ours.hybrid_alpha is not None and not 0.0 <= ours.hybrid_alpha <= 1.0:
        raise SystemExit(f"--hybrid-alpha {ours.hybrid_alpha} must be in [0, 1] (1: BM25 alone, 0: SPLARE alone)")
    language = argparse.ArgumentParser(add_help=False)
    language.add_argument("--language", default="en")  # Pyserini's own flag: read here, left in place
    return rest, {"alpha": ours.hybrid_alpha, "language": language.parse_known_args(rest)[0].language}


def search_lucene(argv: list[str], hybrid: dict | None = None) -> None:
    """Pyserini's own ``pyserini.search.lucene`` CLI with SPLARE's query encoder and searcher installed."""
    java_env.configure()
    argv = with_readable_topics(with_splare_defaults(argv))
    install_query_encoder(hybrid)
    install_one_call_searcher()
    sys.argv = ["pyserini.search.lucene", *argv]
    runpy.run_module("pyserini.search.lucene", run_name="__main__", alter_sys=True)
    args = pyserini_args(argv)
    if args.output and Path(args.output).exists():
        warn_unmatched_queries(args.topics, args.topics_format, args.output)
