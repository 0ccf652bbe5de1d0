#!/usr/bin/env bash
# Dev scores of the v2 long run's checkpoints (issue 16, parts 4-5), beside the training: new
# checkpoints are scored every 5 minutes while the run is alive, then once more. Points are kept
# under eval/results/v2-run/ (committed). Two dev sets, never a test split:
#   - SQuAD: held-out articles 400-414, 400 questions (eval.teacher_comparison prepare, seed 0: the
#     dev set of the short runs' tables), every checkpoint;
#   - multilingual: held-out multilingual-qa articles, 18 languages (eval.multilingual_dev), every
#     640 steps (it encodes ~3,400 paragraphs: ~15 minutes of a free core, about once a session).
# The best checkpoint by SQuAD dev nDCG@10 is kept in eval/results/v2-run/best (a light copy,
# committed): the one to ship.
#   OMP_NUM_THREADS=1 nohup nice -n 15 encode_scripts/v2_learning_curve.sh > runs/v2-curve.log 2>&1 &
set -euo pipefail
RUN=${1:-runs/v2}
WORK=${2:-runs/v2-dev}
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
SHIPPED=splare_pyserini/models/splare-gemma3-270m/training/train_data.jsonl.gz
[ -s "$WORK/dev/queries.jsonl" ] || python -m eval.teacher_comparison prepare --examples "$SHIPPED" \
  --squad "$DATA/train/squad-v1.1" --work "$WORK"
[ -s "$WORK/multilingual/README.json" ] || python -m eval.multilingual_dev --train "$DATA/train" \
  --heldout encode_scripts/train_configs/heldout_ids.txt --out "$WORK/multilingual"
curve() {
  python -m eval.learning_curve --run "$RUN" --dev "$WORK/dev" --out eval/results/v2-run --keep-best eval/results/v2-run/best
  python -m eval.learning_curve --run "$RUN" --dev "$WORK/multilingual" --out eval/results/v2-run/multilingual-dev \
    --work "$RUN/ml-dev-scores" --every 640 --title "held-out multilingual-qa articles, mean of 18 languages"
}
while pgrep -f "train_configs/v2.yaml" >/dev/null; do
  curve
  sleep 300
done
curve
