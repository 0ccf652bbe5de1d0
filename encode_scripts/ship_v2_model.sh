#!/usr/bin/env bash
# Issue 16: the v2 long run's best checkpoint by SQuAD dev nDCG@10 becomes a model directory ready
# to ship, everything chosen on dev sets (never a test split). Stages, each skipped when done:
#   assemble  eval/results/v2-run/best (light copy) + the base model's SAE -> STAGE/model; trainer
#             files dropped; training/ gets the run's config, log, summary, curve and the ids of
#             every training example (query, positive, negatives: the text is rebuilt from the config)
#   labels    latent labels and densities from training text only (SQuAD v1.1 train paragraphs and
#             the multilingual-qa corpora; the shipped default's also read SciFact's corpus)
#   dev       eval.beir on the SQuAD dev set (SPLARE, BM25, hybrid index, fusions), then
#             eval.stop_latents: the stop density with the best dev nDCG@10 (none if keeping every
#             latent is best) written as the model's stop_latents, the dev set encoded again with
#             them, and eval.hybrid_alpha on that: hybrid_alpha / fusion_alpha the dev argmax,
#             written into STAGE/model/splare_config.json
#   install   (not part of all; after encode_scripts/v2_test_eval.sh has compared it with the shipped
#             default on the test sets) STAGE/model replaces splare_pyserini/models/splare-gemma3-270m;
#             the old default's training examples stay at encode_scripts/train_configs/
#             default_v1_train_data.jsonl.gz (the dev sets are prepared from them); the model card,
#             README.md, is written by hand from the measurements
# Usage: encode_scripts/ship_v2_model.sh [STAGE_DIR] [assemble|labels|dev|all|install]
set -euo pipefail
STAGE=${1:-runs/ship-v2}
WHAT=${2:-all}
DATA=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
DEV=${DEV:-runs/v2-dev/dev}
RUN=${RUN:-runs/v2}
MODEL=$STAGE/model
mkdir -p "$STAGE"
if [[ $WHAT == assemble || $WHAT == all ]] && [ ! -s "$MODEL/splare_config.json" ]; then
  python - "$STAGE" "$RUN" <<'PY'
import json, shutil, sys
from pathlib import Path
from splare_pyserini.training.checkpoints import restore_light_checkpoint

stage, run = Path(sys.argv[1]), Path(sys.argv[2])
best = json.loads(Path("eval/results/v2-run/best/best.json").read_text())
restored = restore_light_checkpoint("eval/results/v2-run/best", stage / "restore", "splare-gemma3-270m-zeroshot")
training = restored / "training"
training.mkdir()
for name in ("trainer_state.json", "best.json"):
    shutil.move(restored / name, training / name)
for name in ("scheduler.pt", "rng_state.pth", "training_args.bin", "README.md", "0_CausalLMBackbone/README.md"):
    (restored / name).unlink(missing_ok=True)
kept = Path("eval/results/v2-run")
for source, name in ((kept / "logs" / "train_log.jsonl", "train_log.jsonl"), (kept / "logs" / "train_config.yaml", "train_config.yaml"),
                     (kept / "logs" / "train_summary.json", "train_summary.json"),  # written when the run ends
                     (kept / "curve.png", "dev_curve.png"), (kept / "curve.md", "dev_curve.md")):
    if source.exists():
        shutil.copy(source, training / name)
data = run / "train_data.jsonl"
if data.exists():  # ids only: the texts come back from the config (the data builder is deterministic)
    import gzip
    with open(data, encoding="utf-8") as rows, gzip.open(training / "train_example_ids.jsonl.gz", "wt", encoding="utf-8") as out:
        for line in rows:
            row = json.loads(line)
            out.write(json.dumps({k: row[k] for k in ("qid", "pos_id", "neg_ids", "source") if k in row}) + "\n")
restored.rename(stage / "model")
shutil.rmtree(stage / "restore")
print(f"assembled {stage / 'model'} from step {best['step']} (dev nDCG@10 {best['ndcg_cut_10']})")
PY
fi
if [[ $WHAT == labels || $WHAT == all ]] && [ ! -s "$MODEL/latents.jsonl" ]; then
  CORPORA=(--corpus "$DATA/train/squad-v1.1/corpus.jsonl")
  for c in "$DATA"/train/multilingual-qa/*/*/corpus.jsonl; do CORPORA+=(--corpus "$c"); done
  python -m splare_pyserini.label_latents --encoder "$MODEL" "${CORPORA[@]}" --max-docs 100
fi
if [[ $WHAT == dev || $WHAT == all ]]; then
  [ -s "$STAGE/dev/results.json" ] || python -m eval.beir --data "$DEV" --encoder "$MODEL" --out "$STAGE/dev"
  [ -s "$STAGE/stop-latents/results.json" ] || python -m eval.stop_latents --run-dir "$STAGE/dev" --dataset dev \
    --labels "$MODEL" --densities 0.2 0.1 0.05 0.02 --out "$STAGE/stop-latents"
  # the density with the best dev nDCG@10; none when no threshold beats keeping every latent
  DENSITY=$(python - "$STAGE/stop-latents/results.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]["dev"]
best = max(rows, key=lambda r: (r["ndcg_cut_10"], r["density"] is None))
print(best["density"] or "none")
PY
)
  FINAL=$STAGE/dev
  if [ "$DENSITY" != none ]; then
    python -m splare_pyserini.label_latents --encoder "$MODEL" --stop-density "$DENSITY"
    FINAL=$STAGE/dev-stop  # hybrid alpha is chosen on the vectors the model now writes
    [ -s "$FINAL/results.json" ] || python -m eval.beir --data "$DEV" --encoder "$MODEL" --out "$FINAL"
  fi
  echo "stop latents: density >= $DENSITY (chosen on dev)"
  [ -s "$STAGE/alpha/alpha.json" ] || python -m eval.hybrid_alpha --run-dir "$FINAL" --datasets dev --choose-on dev \
    --encoder "$MODEL" --out "$STAGE/alpha"
  python - "$STAGE/alpha/alpha.json" "$MODEL/splare_config.json" <<'PY'
import json, sys
chosen = json.load(open(sys.argv[1]))["chosen"]
config = json.load(open(sys.argv[2]))
config.update(hybrid_alpha=chosen["hybrid-index"], fusion_alpha=chosen["fusion-interp"])
open(sys.argv[2], "w").write(json.dumps(config, indent=2) + "\n")
print(f"hybrid_alpha {chosen['hybrid-index']}, fusion_alpha {chosen['fusion-interp']} (chosen on dev)")
PY
fi
if [[ $WHAT == install ]]; then
  TARGET=splare_pyserini/models/splare-gemma3-270m
  V1_EXAMPLES=encode_scripts/train_configs/default_v1_train_data.jsonl.gz
  [ -s "$V1_EXAMPLES" ] || cp "$TARGET/training/train_data.jsonl.gz" "$V1_EXAMPLES"
  tmp=$(mktemp -d "$TARGET.install.XXXX")
  chmod 755 "$tmp"
  cp -r "$MODEL/." "$tmp/"
  rm -rf "$TARGET"
  mv "$tmp" "$TARGET"
  echo "installed $MODEL as $TARGET (write its README.md)"
fi
