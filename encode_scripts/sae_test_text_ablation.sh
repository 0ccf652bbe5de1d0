#!/usr/bin/env bash
# Issue 16: what the test corpora's text in the SAE buys. The shipped SAE (and so every model built
# on it, v2 included) was trained on 1.2M tokens shuffled from SQuAD v1.1 train paragraphs *and* the
# SciFact, Medline and Cranfield corpora. Its twin here reads training text only (SQuAD v1.1 train
# paragraphs, ARCD, the 18-language multilingual-qa corpora; the dev articles of heldout_ids.py held
# out), every other setting the shipped SAE's (layer 6, 8,192 latents, k 32, 1.2M tokens, documents
# cut at 256 tokens, seed 42). Both zero-shot models (SAE, no LoRA) are then scored in one run on the
# SQuAD dev set and the test collections: the gap on a test collection is what its text bought.
# Resumable (collection shards, SAE checkpoints, cached encodes): rerun after a stop.
#   OMP_NUM_THREADS=1 nohup nice -n 15 encode_scripts/sae_test_text_ablation.sh > runs/sae-ablation.log 2>&1 &
# Usage: encode_scripts/sae_test_text_ablation.sh [WORK_DIR] [RESULTS_DIR] [DATASET ...]
#   DATASETS default: dev (runs/v2-dev/dev, built by v2_learning_curve.sh) medline cranfield scifact
set -euo pipefail
WORK=${1:-runs/sae-ablation}
RESULTS=${2:-eval/results/sae-test-text}
shift $(( $# < 2 ? $# : 2 ))
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
DEV=${DEV:-runs/v2-dev/dev}
if [ $# -gt 0 ]; then NAMES=("$@"); else NAMES=(dev medline cranfield scifact); fi
mkdir -p "$WORK" "$RESULTS"
python "$(dirname "$0")/heldout_ids.py" "$DATA/train" > "$WORK/heldout_ids.txt"
CORPORA=("$DATA/train/squad-v1.1" "$DATA/train/arcd/ar")
for c in "$DATA"/train/multilingual-qa/*/*/corpus.jsonl; do CORPORA+=("$c"); done
cat > "$WORK/config.json" <<JSON
{"exclude_ids_from": ["$WORK/heldout_ids.txt"], "layers": [6], "total_tokens": 1200000, "shard_tokens": 100000,
 "max_seq_length": 256, "d_sae": 8192, "k": 32, "seed": 42}
JSON
SAE=$WORK/saes/L6_w8192
[ -s "$SAE/cfg.json" ] || python -m splare_pyserini.train_sae --config "$WORK/config.json" --work-dir "$WORK/acts" \
  --output-dir "$WORK/saes" --corpora "${CORPORA[@]}"
MODEL=$WORK/zeroshot-no-test-text
[ -s "$MODEL/splare_config.json" ] || python -m splare_pyserini.build_model --backbone gguf:gemma3-270m-q4-k-m --layer 6 \
  --sae-path "$SAE" --torch-dtype bfloat16 --max-seq-length 512 --query-top-k 40 --doc-top-k 400 --out "$MODEL"
cp "$SAE/training_log.json" "$RESULTS/sae_training_log.json"
# Dataset by dataset, both models, the table rewritten after each: a stopped run keeps its pairs.
SHIPPED_RUNS=() ABLATION_RUNS=()
for name in "${NAMES[@]}"; do
  if [ "$name" = dev ]; then folder=$DEV; else folder=$DATA/data/$name; fi
  [ -s "$WORK/eval-shipped-sae/$name/results.json" ] || python -m eval.beir --data "$folder" \
    --encoder splare-gemma3-270m-zeroshot --out "$WORK/eval-shipped-sae/$name"
  [ -s "$WORK/eval-no-test-text/$name/results.json" ] || python -m eval.beir --data "$folder" --encoder "$MODEL" \
    --no-bm25 --out "$WORK/eval-no-test-text/$name"
  SHIPPED_RUNS+=("$WORK/eval-shipped-sae/$name") ABLATION_RUNS+=("$WORK/eval-no-test-text/$name")
  python -m eval.sae_test_text --shipped "${SHIPPED_RUNS[@]}" --ablation "${ABLATION_RUNS[@]}" \
    --sae-log "$SAE/training_log.json" --out "$RESULTS"
done
