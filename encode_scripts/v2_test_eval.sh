#!/usr/bin/env bash
# Issue 16's targets, measured once the model to ship is chosen on dev (ship_v2_model.sh): the new
# model beside the shipped default, Pyserini BM25 and SPLADE-tiny on the English test collections,
# both models' encode throughput, then one table with paired standard errors. Test qrels choose
# nothing here. Parts (each skipped when done; run two at once on two cores):
#   new       eval.beir on SciFact, Medline, Cranfield: the new model, BM25, SPLADE-tiny, hybrid rows
#   default   the same collections with the shipped default (SPLARE only)
#   encode    eval.bench_encode of both models on the same 256 SciFact documents, one after the other
#   table     eval.model_comparison -> RESULTS (results.md, results.json, model_comparison.png)
# Usage: encode_scripts/v2_test_eval.sh [MODEL] [OUT] [new|default|encode|table|all] [RESULTS]
set -euo pipefail
MODEL=${1:-runs/ship-v2/model}
OUT=${2:-runs/v2-test}
WHAT=${3:-all}
RESULTS=${4:-eval/results/v2-test}
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}/data
SETS=(--data "$DATA/scifact" --data "$DATA/medline" --data "$DATA/cranfield")
DEFAULT=splare-gemma3-270m
if [[ $WHAT == new || $WHAT == all ]] && [ ! -s "$OUT/new/results.json" ]; then
  python -m eval.beir "${SETS[@]}" --encoder "$MODEL" --systems splade-tiny --out "$OUT/new"
fi
if [[ $WHAT == default || $WHAT == all ]] && [ ! -s "$OUT/default/results.json" ]; then
  python -m eval.beir "${SETS[@]}" --encoder "$DEFAULT" --no-bm25 --out "$OUT/default"
fi
if [[ $WHAT == encode || $WHAT == all ]]; then
  for pair in "default=$DEFAULT" "new=$MODEL"; do
    [ -s "$OUT/encode-${pair%%=*}/encode_speed.json" ] || python -m eval.bench_encode --data "$DATA/scifact" --docs 256 \
      --repeats 3 --encoder "${pair#*=}" --out "$OUT/encode-${pair%%=*}"
  done
fi
if [[ $WHAT == table || $WHAT == all ]]; then
  python -m eval.model_comparison --run "new=$OUT/new" --run "default=$OUT/default" --out "$RESULTS"
fi
