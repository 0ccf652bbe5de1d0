"""``python -m splare_pyserini.seismic``: build a Seismic index from the encoder's JsonVectorCollection files (approximate impact search).

The command only; the work is in :mod:`splare_pyserini.backends.seismic`."""
import sys

from splare_pyserini.backends.seismic import main

if __name__ == "__main__":
    sys.exit(main())
