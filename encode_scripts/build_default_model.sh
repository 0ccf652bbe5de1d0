#!/usr/bin/env bash
# Assemble the shipped default model from the layer sweep: the SAE with the best dev nDCG@10
# becomes splare_pyserini/models/splare-gemma3-270m-zeroshot (SAE, no LoRA; the base of the default), with the
# SAE's training log and the sweep results copied beside it.
# Usage: encode_scripts/build_default_model.sh WORK_DIR OUT_DIR SWEEP_DIR
set -euo pipefail
WORK=${1:-/tmp/splare-sae-work}
OUT=${2:-/tmp/splare-sae-out}
SWEEP=${3:-eval/results/layer-sweep}
MODEL=splare_pyserini/models/splare-gemma3-270m-zeroshot
BEST=$(python -c "import json,sys; r=json.load(open('$SWEEP/results.json'))['rows']; print(max(r, key=lambda x: x['ndcg_cut_10'])['sae'])")
LAYER=$(python -c "import json; print(json.load(open('$BEST/cfg.json'))['metadata']['hook_name'].split('.')[1])")
echo "best SAE: $BEST (layer $LAYER)"
rm -rf "$MODEL"
python -m splare_pyserini.build_model --backbone gguf:gemma3-270m-q4-k-m --layer "$LAYER" --sae-path "$BEST" \
  --torch-dtype bfloat16 --max-seq-length 512 --query-top-k 40 --doc-top-k 400 --out "$MODEL"
mkdir -p "$MODEL/training"
cp "$BEST/training_log.json" "$MODEL/training/sae_training_log.json"
python -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['config'], open(sys.argv[2], 'w'), indent=2)" "$BEST/training_log.json" "$MODEL/training/sae_training_config.json"
# The run's console log without the tqdm redraws: INFO lines and the loss every 100 steps.
tr '\r' '\n' < "$WORK/train.log" | grep -E "INFO|00\| mse_loss" | awk '!seen[$0]++' > "$MODEL/training/sae_training.log"
du -sh "$MODEL"
