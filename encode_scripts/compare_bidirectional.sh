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
source "$(dirname "$0")/short_run.sh"
short_run infonce-bidirectional eval- --set model.bidirectional=true
short_run mse-dense-x80 eval- --set loss.kind=margin_mse --set "data.teacher_scores=$WORK/scores.dense.tsv" --set data.teacher_scale=80
python -m eval.teacher_comparison report --work "$WORK" --steps "$STEPS" --out eval/results/teachers
