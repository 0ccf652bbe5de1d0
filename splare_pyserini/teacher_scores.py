"""``python -m splare_pyserini.teacher_scores``: teacher scores for distillation (MarginMSE / KL), from teachers that run offline here.

The command only; the work is in :mod:`splare_pyserini.training.teachers`."""
import sys

from splare_pyserini.training.teachers import main

if __name__ == "__main__":
    sys.exit(main())
