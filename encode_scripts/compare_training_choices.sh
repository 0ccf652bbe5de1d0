#!/usr/bin/env bash
# Training choices the paper's abstract leaves open, measured for the embedded default on the
# examples and dev set of compare_teachers.sh (run it first; dev = held-out SQuAD articles, not a
# test set): InfoNCE temperature, LoRA rank, FLOPS weights, and MarginMSE from all-MiniLM-L6-v2
# with the teacher rescaled to the student's score scale. Each run changes one field of the
# default config (40 steps x 16 from the zero-shot model, like the teacher comparison); the
# InfoNCE baseline is re-scored with the same code. Resumable: finished runs are kept.
# Usage: encode_scripts/compare_training_choices.sh [WORK_DIR] [STEPS]
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
  [ -s "$WORK/score-$name/results.json" ] || python -m eval.beir --data "$WORK/dev" \
    --encoder "$WORK/run-$name/model" --out "$WORK/score-$name"
}
run infonce  # the baseline (default config), already trained by compare_teachers.sh
run temperature-5 --set loss.temperature=5.0
run lora-r4 --set lora.r=4 --set lora.alpha=8
run flops-x10 --set loss.flops_query=5.0e-3 --set loss.flops_doc=3.0e-3
run mse-dense-x80 --set loss.kind=margin_mse --set "data.teacher_scores=$WORK/scores.dense.tsv" --set data.teacher_scale=80
python -m eval.teacher_comparison report --work "$WORK" --steps "$STEPS" --table choices --out eval/results/training-choices
