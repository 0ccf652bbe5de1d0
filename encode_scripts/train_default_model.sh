#!/usr/bin/env bash
# Train the embedded default (LoRA on Gemma 3 270M through the frozen shipped SAE) and install it
# as splare_pyserini/models/splare-gemma3-270m: the zero-shot model plus the LoRA adapter, with the
# training config, examples, log and summary copied into its training/ folder.
# Resumable: run it again after a stop and it continues from the last checkpoint.
# Usage: encode_scripts/train_default_model.sh [STOP_AFTER_STEPS]
#   STOP_AFTER_STEPS ends the run early at that step while keeping the full run's schedule
#   (the shipped model ran 1-200 in one session, then was resumed to 307, the full epoch).
set -euo pipefail
CONFIG=encode_scripts/train_configs/default.yaml
OUT=runs/train-default
BASE=splare_pyserini/models/splare-gemma3-270m-zeroshot
MODEL=splare_pyserini/models/splare-gemma3-270m
EXTRA=()
[ -n "${1:-}" ] && EXTRA=(--set "train.stop_after_steps=$1")
RESUME=()
ls -d "$OUT"/checkpoint-* >/dev/null 2>&1 && RESUME=(--resume)
last_step() { ls -d "$OUT"/checkpoint-* 2>/dev/null | sed 's/.*checkpoint-//' | sort -n | tail -1; }
if [ -n "${1:-}" ] && [ "$(last_step || echo 0)" -ge "$1" ] 2>/dev/null; then
  echo "checkpoint-$(last_step) already reaches step $1: installing it"
else
  mkdir -p "$OUT"
  python -m splare_pyserini.train --config "$CONFIG" --output-dir "$OUT" "${EXTRA[@]}" "${RESUME[@]}" 2>&1 | tee -a "$OUT.log"
fi
SRC="$OUT/checkpoint-$(last_step)"
echo "installing $SRC as $MODEL"
tmp=$(mktemp -d)
cp -r "$BASE" "$tmp/model"
cp "$SRC"/0_CausalLMBackbone/adapter_config.json "$SRC"/0_CausalLMBackbone/adapter_model.safetensors "$tmp/model/0_CausalLMBackbone/"
rm -rf "$tmp/model/training" && mkdir -p "$tmp/model/training"
cp "$BASE"/training/sae_* "$tmp/model/training/"
cp "$OUT/train_config.yaml" "$OUT/train_log.jsonl" "$tmp/model/training/"
[ -f "$OUT/train_summary.json" ] && cp "$OUT/train_summary.json" "$tmp/model/training/"
gzip -9 -c "$OUT/train_data.jsonl" > "$tmp/model/training/train_data.jsonl.gz"
cp "$SRC/trainer_state.json" "$tmp/model/training/trainer_state.json"
[ -f "$MODEL/README.md" ] && cp "$MODEL/README.md" "$tmp/model/README.md"
# keep the latent labels and the stop latents of the installed model (label_latents.py made them;
# rerun it with --stop-density to recompute them for the new adapter), and its SAE compute dtype
for f in latents.jsonl latents_info.json 1_SAELatents/config.json; do [ -f "$MODEL/$f" ] && cp "$MODEL/$f" "$tmp/model/$f"; done
if [ -f "$MODEL/splare_config.json" ]; then
  python - "$MODEL/splare_config.json" "$tmp/model/splare_config.json" <<'PY'
import json, sys
old, new = (json.load(open(p)) for p in sys.argv[1:])
new["stop_latents"] = old.get("stop_latents", [])
open(sys.argv[2], "w").write(json.dumps(new, indent=2) + "\n")
PY
fi
rm -rf "$MODEL" && mv "$tmp/model" "$MODEL"
du -sh "$MODEL"
