# Sourced by compare_teachers.sh, compare_bidirectional.sh, compare_training_choices.sh and
# compare_kl_choices.sh (WORK and STEPS set; EXAMPLES defaults to $WORK/examples.jsonl): one short
# LoRA run from the zero-shot default on $EXAMPLES with the default config plus the given
# overrides, resumable, then its score on the dev set $WORK/dev.
# With KEEP set (a committed folder, e.g. eval/results/kl-choices/runs), a run's dev score is also
# kept there as KEEP/<name>.json and a run already kept is not trained again: a lost work dir (a
# new machine) loses no finished run.
# Usage: short_run NAME SCORE_PREFIX [--set SECTION.KEY=VALUE ...]  (scores in $WORK/<prefix><name>)
short_run() {
  local name=$1 prefix=$2
  shift 2
  if [ -n "${KEEP:-}" ] && [ -s "$KEEP/$name.json" ]; then
    mkdir -p "$WORK/$prefix$name" && cp "$KEEP/$name.json" "$WORK/$prefix$name/results.json"
    return
  fi
  if [ ! -d "$WORK/run-$name/model" ]; then
    local resume=()
    ls -d "$WORK/run-$name"/checkpoint-* >/dev/null 2>&1 && resume=(--resume)
    python -m splare_pyserini.train --config encode_scripts/train_configs/default.yaml \
      --output-dir "$WORK/run-$name" --set "data.sources=[{kind: examples, path: ${EXAMPLES:-$WORK/examples.jsonl}}]" \
      --set train.max_steps="$STEPS" --set train.save_steps=10 "$@" "${resume[@]}"
  fi
  [ -s "$WORK/$prefix$name/results.json" ] || python -m eval.beir --data "$WORK/dev" \
    --encoder "$WORK/run-$name/model" --out "$WORK/$prefix$name"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK/$prefix$name/results.json" "$KEEP/$name.json"; fi
}
