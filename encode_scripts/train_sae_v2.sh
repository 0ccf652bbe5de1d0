#!/usr/bin/env bash
# SPLARE v2 (issue 16, part 1): SAEs trained on all the training text there is, English and
# multilingual (SQuAD v1.1 train paragraphs, ARCD, the 18-language multilingual-qa corpora), never
# query text and never a test collection's corpus; the dev articles (encode_scripts/heldout_ids.py)
# are held out. Layers 6 and 9 (layer 12 would cost 13/7 of layer 6's encode time, past the
# campaign's 0.7x throughput floor). Activations stored in bf16. Resumable: rerun after a kill.
# Usage: encode_scripts/train_sae_v2.sh [WORK_DIR] [OUT_DIR] [STAGE] [extra train_sae flags]
set -euo pipefail
WORK=${1:-runs/sae-v2/work}
OUT=${2:-runs/sae-v2/saes}
STAGE=${3:-collect}
shift $(( $# < 3 ? $# : 3 ))
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
mkdir -p "$WORK"
python "$(dirname "$0")/heldout_ids.py" "$DATA/train" > "$WORK/heldout_ids.txt"
CORPORA=("$DATA/train/squad-v1.1" "$DATA/train/arcd/ar")
for c in "$DATA"/train/multilingual-qa/*/*/corpus.jsonl; do CORPORA+=("$c"); done
cat > "$WORK/config.json" <<JSON
{"exclude_ids_from": ["$WORK/heldout_ids.txt"], "store_dtype": "bfloat16", "max_seq_length": 512,
 "shard_tokens": 250000}
JSON
python -m splare_pyserini.train_sae --config "$WORK/config.json" --work-dir "$WORK" --output-dir "$OUT" \
  --stage "$STAGE" --layers 6 9 --total-tokens 30000000 --corpora "${CORPORA[@]}" "$@"
