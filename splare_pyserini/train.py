"""``python -m splare_pyserini.train``: fine-tune a SPLARE model: peft LoRA on the LLM, the SAE frozen, sentence-transformers' trainer.

The command only; the work is in :mod:`splare_pyserini.training.trainer`."""
import sys

from splare_pyserini.training.trainer import main

if __name__ == "__main__":
    sys.exit(main())
