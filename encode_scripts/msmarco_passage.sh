#!/usr/bin/env bash
# MS MARCO passage (8.8M passages) end to end: sharded encode -> one Lucene impact index ->
# Pyserini search on dev / DL19 / DL20 -> trec_eval with Pyserini's 2CR conventions.
#
#   encode_scripts/msmarco_passage.sh COLLECTION_TSV OUT_DIR [MODEL_DIR] [SHARDS]
#
# Each shard is an independent, resumable job: run them in parallel (one per GPU/node, e.g. a
# Slurm array with SHARD=$SLURM_ARRAY_TASK_ID), rerun a failed one with --resume. All shards
# write into the same directory (part-<shard>-of-<n>-*.jsonl), which Pyserini indexes as one
# collection, so there is no separate merge step.
set -euo pipefail
COLLECTION=$1
OUT=$2
MODEL=${3:-default}
SHARDS=${4:-4}
TOPICS=${TOPICS:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data/msmarco-topics}
ENCODER_ARGS=(); [ "$MODEL" != default ] && ENCODER_ARGS=(--encoder "$MODEL")
DEVICE=${DEVICE:-cpu}

for SHARD in $(seq 0 $((SHARDS - 1))); do   # or: only "$SHARD" inside a job array
  python -m splare_pyserini.encode \
    input --corpus "$COLLECTION" --shard-id "$SHARD" --shard-num "$SHARDS" \
    output --embeddings "$OUT/vectors" --resume \
    encoder "${ENCODER_ARGS[@]}" --batch-size 64 --device "$DEVICE"
done

python -m pyserini.index.lucene --collection JsonVectorCollection --input "$OUT/vectors" --index "$OUT/index" \
  --generator DefaultLuceneDocumentGenerator --threads 16 --impact --pretokenized

for SET in dev-small dl19-passage dl20-passage; do
  python -m splare_pyserini.encode --topics "$TOPICS/$SET/queries.jsonl" --embeddings "$OUT/queries-$SET" \
    --resume "${ENCODER_ARGS[@]}"
  python -m pyserini.search.lucene --index "$OUT/index" --impact --min-idf -1 \
    --encoder "$OUT/queries-$SET/queries.jsonl" --topics "$OUT/queries-$SET/topics.tsv" \
    --output "$OUT/run.$SET.txt" --hits 1000 --batch-size 64 --threads 16
  # BEIR-layout qrels -> TREC qrels
  tail -n +2 "$TOPICS/$SET/qrels/test.tsv" | awk -F'\t' '{print $1, 0, $2, $3}' > "$OUT/qrels.$SET.txt"
done
python -m pyserini.eval.trec_eval -c -M 10 -m recip_rank "$OUT/qrels.dev-small.txt" "$OUT/run.dev-small.txt"
python -m pyserini.eval.trec_eval -c -m recall.1000 "$OUT/qrels.dev-small.txt" "$OUT/run.dev-small.txt"
for SET in dl19-passage dl20-passage; do
  python -m pyserini.eval.trec_eval -c -m ndcg_cut.10 "$OUT/qrels.$SET.txt" "$OUT/run.$SET.txt"
  python -m pyserini.eval.trec_eval -c -l 2 -m recall.1000 "$OUT/qrels.$SET.txt" "$OUT/run.$SET.txt"
done
# The same in one command (without sharding): python -m eval.msmarco --collection "$COLLECTION" --out "$OUT"
