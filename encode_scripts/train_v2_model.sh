#!/usr/bin/env bash
# Issue 16, part 4: the long run of SPLARE v2 (config encode_scripts/train_configs/v2.yaml: ~40,000
# SQuAD + multilingual-qa questions, InfoNCE t5, one BM25 negative, LoRA r 16 from the zero-shot model).
# Resumable across sessions and machines: rerun the same command after a stop. runs/v2/checkpoint-N
# (optimizer state included) is resumed when it is there; on a machine without runs/, the run goes
# on from the committed light checkpoint eval/results/v2-run/checkpoint (train.keep_checkpoint: the
# adapter, trainer state, schedule and RNG state; Adam starts afresh).
#   OMP_NUM_THREADS=1 nohup nice -n 10 encode_scripts/train_v2_model.sh > runs/v2.log 2>&1 &
# Dev nDCG@10 of each checkpoint (a loop beside the training): encode_scripts/v2_learning_curve.sh
set -euo pipefail
OUT=${1:-runs/v2}
python -m splare_pyserini.train --config encode_scripts/train_configs/v2.yaml --set train.output_dir="$OUT" --resume
