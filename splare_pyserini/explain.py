"""``python -m splare_pyserini.explain``: why did this document match? A hit's score, latent by latent, with the latents' labels.

The command only; its arguments are in :mod:`splare_pyserini.interpret.explain_cli`, the work in
:mod:`splare_pyserini.interpret.explanations`."""
import sys

from splare_pyserini.interpret.explain_cli import main

if __name__ == "__main__":
    sys.exit(main())
