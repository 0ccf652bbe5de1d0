"""``python -m splare_pyserini.search``: search raw-text topics with Pyserini's own CLI and SPLARE's query encoder.

The command only: it reads ``--hybrid``/``--hybrid-alpha`` and ``--backend`` and hands the rest
to :func:`splare_pyserini.lucene.searching.search_lucene` (the default) or to
:func:`splare_pyserini.backends.seismic.search_main` (``--backend seismic``).
"""
import logging
import sys

from splare_pyserini.lucene.searching import backend_option, hybrid_options, search_lucene


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv, hybrid = hybrid_options(sys.argv[1:] if argv is None else argv)
    argv, backend = backend_option(argv)
    if backend == "seismic":
        from splare_pyserini.backends.seismic import search_main

        return search_main(argv, hybrid)
    search_lucene(argv, hybrid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
