#!/usr/bin/env bash
# Which training signal helps the embedded default? Short LoRA runs from the zero-shot model
# on the same examples: InfoNCE (in-batch + 1 BM25 hard negative) vs MarginMSE distilled from
# each offline teacher (Pyserini BM25, dense all-MiniLM-L6-v2, their z-score fusion).
# Scored on a dev set of held-out SQuAD articles (400+: never in these examples, never a test
# set). Resumable: rerun after a stop; finished runs and evaluations are kept.
# Usage: encode_scripts/compare_teachers.sh [WORK_DIR] [STEPS]
set -euo pipefail
WORK=${1:-runs/teachers}
STEPS=${2:-40}
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
SHIPPED=encode_scripts/train_configs/default_v1_train_data.jsonl.gz
mkdir -p "$WORK"
[ -s "$WORK/examples.jsonl" ] || python -m eval.teacher_comparison prepare --examples "$SHIPPED" \
  --squad "$DATA/train/squad-v1.1" --n-examples $((STEPS * 16)) --work "$WORK"
for teacher in bm25 dense fusion; do
  [ -s "$WORK/scores.$teacher.tsv" ] || python -m splare_pyserini.teacher_scores \
    --examples "$WORK/examples.jsonl" --teacher "$teacher" --output "$WORK/scores.$teacher.tsv"
done
source "$(dirname "$0")/short_run.sh"
evaluate() {  # name, model directory
  [ -s "$WORK/eval-$1/results.json" ] || python -m eval.beir --data "$WORK/dev" --encoder "$2" --out "$WORK/eval-$1"
}
evaluate zeroshot splare-gemma3-270m-zeroshot
short_run infonce eval-
for teacher in bm25 dense fusion; do
  short_run "mse-$teacher" eval- --set loss.kind=margin_mse --set "data.teacher_scores=$WORK/scores.$teacher.tsv"
done
python -m eval.teacher_comparison report --work "$WORK" --steps "$STEPS" --out eval/results/teachers
