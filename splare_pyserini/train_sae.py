"""``python -m splare_pyserini.train_sae``: train a TopK SAE with sae-lens on a backbone's residual stream, for models with no published SAE.

The command only; the work is in :mod:`splare_pyserini.training.sae`."""
import sys

from splare_pyserini.training.sae import main

if __name__ == "__main__":
    sys.exit(main())
