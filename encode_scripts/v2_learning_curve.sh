#!/usr/bin/env bash
# Dev nDCG@10 of every checkpoint of the v2 long run (issue 16, part 4), beside the training: scores
# new checkpoints every 5 minutes while the run is alive, then once more. Points are kept under
# eval/results/v2-run/steps (committed). The dev set is the one of the short runs' tables
# (held-out SQuAD articles 400-414, 400 questions: eval.teacher_comparison prepare, seed 0).
#   OMP_NUM_THREADS=1 nohup nice -n 15 encode_scripts/v2_learning_curve.sh > runs/v2-curve.log 2>&1 &
set -euo pipefail
RUN=${1:-runs/v2}
WORK=${2:-runs/v2-dev}
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
SHIPPED=splare_pyserini/models/splare-gemma3-270m/training/train_data.jsonl.gz
[ -s "$WORK/dev/queries.jsonl" ] || python -m eval.teacher_comparison prepare --examples "$SHIPPED" \
  --squad "$DATA/train/squad-v1.1" --work "$WORK"
curve() { python -m eval.learning_curve --run "$RUN" --dev "$WORK/dev" --out eval/results/v2-run; }
while pgrep -f "train_configs/v2.yaml" >/dev/null; do
  curve
  sleep 300
done
curve
