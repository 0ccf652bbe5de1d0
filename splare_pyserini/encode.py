"""``python -m splare_pyserini.encode``: encode a corpus or topics into Lucene ``JsonVectorCollection`` JSONL, like ``python -m pyserini.encode``.

The command only; the work is in :mod:`splare_pyserini.encoding.jobs`."""
import sys

from splare_pyserini.encoding.jobs import main

if __name__ == "__main__":
    sys.exit(main())
