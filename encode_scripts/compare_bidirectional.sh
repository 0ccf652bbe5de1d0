#!/usr/bin/env bash
# Two more training choices for the embedded default, on the examples and dev set of
# compare_teachers.sh (run it first): bidirectional attention (Gemma 3's causal mask dropped,
# model.bidirectional) with InfoNCE, and MarginMSE from all-MiniLM-L6-v2 with the teacher
# scores rescaled to the student's score scale (data.teacher_scale=80: the zero-shot student's
# RMS margin ~26 over MiniLM's mean |margin| 0.315, from the first MarginMSE losses).
# Usage: encode_scripts/compare_bidirectional.sh [WORK_DIR] [STEPS]
set -euo pipefail
WORK=${1:-runs/teachers}
STEPS=${2:-40}
[ -s "$WORK/examples.jsonl" ] || { echo "run encode_scripts/compare_teachers.sh $WORK $STEPS first" >&2; exit 2; }
run() {  # name, extra --set arguments
  local name=$1; shift
  if [ ! -d "$WORK/run-$name/model" ]; then
    local resume=()
    ls -d "$WORK/run-$name"/checkpoint-* >/dev/null 2>&1 && resume=(--resume)
    python -m splare_pyserini.train --config encode_scripts/train_configs/default.yaml \
      --output-dir "$WORK/run-$name" --set "data.sources=[{kind: examples, path: $WORK/examples.jsonl}]" \
      --set train.max_steps="$STEPS" --set train.save_steps=10 "$@" "${resume[@]}"
  fi
  [ -s "$WORK/eval-$name/results.json" ] || python -m eval.beir --data "$WORK/dev" \
    --encoder "$WORK/run-$name/model" --out "$WORK/eval-$name"
}
run infonce-bidirectional --set model.bidirectional=true
run mse-dense-x80 --set loss.kind=margin_mse --set "data.teacher_scores=$WORK/scores.dense.tsv" --set data.teacher_scale=80
python -m eval.teacher_comparison report --work "$WORK" --steps "$STEPS" --out eval/results/teachers
