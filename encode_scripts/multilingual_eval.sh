#!/usr/bin/env bash
# Issue 8's measurements with the embedded default: XQuAD-R monolingual (8 languages, BM25 with
# each language's analyzer), XQuAD-R pooled cross-lingual (LAReQA, mAP), Tatoeba (language ->
# English) on a subset of languages. Resumable: encodings are cached in the run directories.
# Usage: encode_scripts/multilingual_eval.sh [RUN_ROOT] [TATOEBA_LANGUAGES] [ENCODER]
#   ENCODER: a SPLARE model directory (default: the embedded default)
set -euo pipefail
ROOT=${1:-runs/multilingual}
TATOEBA=${2:-ar,de,es,hi,zh}
ENCODER=()
if [ -n "${3:-}" ]; then ENCODER=(--encoder "$3"); fi
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}/data
# The pooled run shares the run directory to reuse the encodings; each run's tables are kept.
python -m eval.beir --data "$DATA/xquad-r" "${ENCODER[@]}" --out "$ROOT/xquad-r"
for f in results.json results.md analyzers.json timings.json; do cp "$ROOT/xquad-r/$f" "$ROOT/xquad-r/monolingual.$f"; done
python -m eval.beir --data "$DATA/xquad-r" "${ENCODER[@]}" --cross-lingual --out "$ROOT/xquad-r"
for f in results.json results.md analyzers.json timings.json cross_lingual_examples.json; do
  cp "$ROOT/xquad-r/$f" "$ROOT/xquad-r/pooled.$f"
done
python -m eval.beir --data "$DATA/tatoeba" "${ENCODER[@]}" --languages "$TATOEBA" --cross-lingual --out "$ROOT/tatoeba"
