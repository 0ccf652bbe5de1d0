#!/usr/bin/env bash
# BEIR collections end to end, one table with an average row (SPLARE, Pyserini BM25 flat, RRF):
#
#   encode_scripts/beir.sh OUT_DIR [MODEL_DIR] BEIR_DIR [BEIR_DIR ...]
#
# Each BEIR_DIR holds corpus.jsonl, queries.jsonl and qrels/test.tsv. Encodings are cached
# per collection (reused while model and corpus are unchanged, resumed after a kill).
set -euo pipefail
OUT=$1; MODEL=$2; shift 2
ARGS=(); for DIR in "$@"; do ARGS+=(--data "$DIR"); done
ENCODER=(); [ "$MODEL" != default ] && ENCODER=(--encoder "$MODEL")
python -m eval.beir "${ARGS[@]}" "${ENCODER[@]}" --out "$OUT"
cat "$OUT/results.md"
