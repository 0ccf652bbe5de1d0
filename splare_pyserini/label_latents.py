"""``python -m splare_pyserini.label_latents``: label every latent of a SPLARE model from a corpus; the labels land in the model directory.

The command only; the work is in :mod:`splare_pyserini.interpret.labeling`."""
import sys

from splare_pyserini.interpret.labeling import main

if __name__ == "__main__":
    sys.exit(main())
