#!/usr/bin/env bash
# Train the SAEs of the embedded default (Gemma 3 270M) with sae-lens: the layer sweep that
# picked the shipped one. Document text only (no query is read); SQuAD articles 400-441 are
# held out for the layer choice (see encode_scripts/sae_dev_ids.sh). Resumable: rerun the
# same command after a kill. Usage: encode_scripts/train_default_sae.sh WORK_DIR OUT_DIR
set -euo pipefail
WORK=${1:-/tmp/splare-sae-work}
OUT=${2:-/tmp/splare-sae-out}
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
mkdir -p "$WORK"
# Held-out SQuAD articles 400..441: never seen by the SAE, used to choose the layer.
python - "$DATA/train/squad-v1.1/corpus.jsonl" > "$WORK/heldout_ids.txt" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    doc_id = json.loads(line)["_id"]
    if int(doc_id.split("-")[1]) >= 400:
        print(doc_id)
PY
python -m splare_pyserini.train_sae --work-dir "$WORK" --output-dir "$OUT" \
  --layers 6 9 --total-tokens 1200000 --d-sae 8192 --k 32 \
  --corpora "$DATA/train/squad-v1.1" "$DATA/data/scifact" "$DATA/data/medline" "$DATA/data/cranfield" \
  --config <(echo "{\"exclude_ids_from\": [\"$WORK/heldout_ids.txt\"]}")
# Width sweep at the best layer of the first sweep (layer 6): reuses the stored activations.
python -m splare_pyserini.train_sae --work-dir "$WORK" --output-dir "$OUT" --stage train \
  --layers 6 --d-sae 4096 --k 32 \
  --config <(echo "{\"exclude_ids_from\": [\"$WORK/heldout_ids.txt\"]}")
