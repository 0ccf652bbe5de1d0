#!/usr/bin/env bash
# Choose the default SAE's layer: zero-shot SPLARE on a dev set built from the SQuAD
# articles held out of SAE training (400..441: paragraphs + their train questions; no test
# set is used). Usage: encode_scripts/sweep_default_sae.sh WORK_DIR OUT_DIR RESULTS_DIR
set -euo pipefail
WORK=${1:-/tmp/splare-sae-work}
OUT=${2:-/tmp/splare-sae-out}
RESULTS=${3:-eval/results/layer-sweep}
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
mkdir -p "$WORK/dev"
python - "$DATA/train/squad-v1.1" "$WORK/heldout_ids.txt" "$WORK/dev" <<'PY'
import json, sys
src, held_file, dev = sys.argv[1:]
held = {line.strip() for line in open(held_file)}
with open(f"{src}/corpus.jsonl") as f, open(f"{dev}/corpus.jsonl", "w") as out:
    out.writelines(line for line in f if json.loads(line)["_id"] in held)
qids = set()
with open(f"{src}/qrels/train.tsv") as f, open(f"{dev}/qrels.tsv", "w") as out:
    out.write(next(f))
    for line in f:
        qid, docid, _ = line.rstrip("\n").split("\t")
        if docid in held:
            out.write(line)
            qids.add(qid)
with open(f"{src}/queries.jsonl") as f, open(f"{dev}/queries.jsonl", "w") as out:
    out.writelines(line for line in f if json.loads(line)["_id"] in qids)
PY
python -m eval.layer_sweep --sae-dirs "$OUT"/L*_w* --corpus "$WORK/dev/corpus.jsonl" \
  --queries "$WORK/dev/queries.jsonl" --qrels "$WORK/dev/qrels.tsv" --max-queries 500 --out "$RESULTS"
