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
source "$(dirname "$0")/short_run.sh"
short_run infonce score-  # the baseline (default config), already trained by compare_teachers.sh
short_run temperature-5 score- --set loss.temperature=5.0
short_run lora-r4 score- --set lora.r=4 --set lora.alpha=8
short_run flops-x10 score- --set loss.flops_query=5.0e-3 --set loss.flops_doc=3.0e-3
short_run mse-dense-x80 score- --set loss.kind=margin_mse --set "data.teacher_scores=$WORK/scores.dense.tsv" --set data.teacher_scale=80
python -m eval.teacher_comparison report --work "$WORK" --steps "$STEPS" --table choices --out eval/results/training-choices
