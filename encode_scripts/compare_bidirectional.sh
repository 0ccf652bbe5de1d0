#!/usr/bin/env bash
# Causal vs bidirectional attention for the embedded default: the InfoNCE run of
# compare_teachers.sh again with Gemma 3's causal mask dropped (model.bidirectional), zero-shot
# and trained, on the same examples and dev set. Run compare_teachers.sh first.
# Usage: encode_scripts/compare_bidirectional.sh [WORK_DIR] [STEPS]
set -euo pipefail
WORK=${1:-runs/teachers}
STEPS=${2:-40}
[ -s "$WORK/examples.jsonl" ] || { echo "run encode_scripts/compare_teachers.sh $WORK $STEPS first" >&2; exit 2; }
if [ ! -d "$WORK/run-infonce-bidirectional/model" ]; then
  resume=()
  ls -d "$WORK/run-infonce-bidirectional"/checkpoint-* >/dev/null 2>&1 && resume=(--resume)
  python -m splare_pyserini.train --config encode_scripts/train_configs/default.yaml \
    --output-dir "$WORK/run-infonce-bidirectional" --set "data.sources=[{kind: examples, path: $WORK/examples.jsonl}]" \
    --set train.max_steps="$STEPS" --set train.save_steps=10 --set model.bidirectional=true "${resume[@]}"
fi
[ -s "$WORK/eval-infonce-bidirectional/results.json" ] || python -m eval.beir --data "$WORK/dev" \
  --encoder "$WORK/run-infonce-bidirectional/model" --out "$WORK/eval-infonce-bidirectional"
python -m eval.teacher_comparison report --work "$WORK" --steps "$STEPS" --out eval/results/teachers
