"""Train a TopK SAE with sae-lens on a backbone's residual stream, for models with no published SAE.

Two resumable stages, each checkpointed under ``--work-dir``:

1. ``collect``: run the backbone (cut at the deepest requested layer) over corpus text and
   store token activations of every requested layer in shards of ``--shard-tokens``
   tokens (BOS and padding dropped). A killed run continues after the last full shard.
2. ``train``: for each layer, fit ``sae_lens.TopKTrainingSAE`` with covariance whitening
   (Gemma's residual stream has a few massive dimensions that an un-whitened SAE spends
   itself on), then save it in sae-lens' own layout (``cfg.json`` +
   ``sae_weights.safetensors``) and report explained variance with and without the
   dimensions that carry most of the energy.

Only document text is read (``corpus.jsonl`` title + text), never queries.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

logger = logging.getLogger(__name__)


@dataclass
class SAETrainingConfig:
    """Everything that determines the trained SAE (saved next to it as ``training_config.json``)."""

    backbone: str = "gguf:gemma3-270m-q4-k-m"
    layers: list[int] = field(default_factory=lambda: [9])
    corpora: list[str] = field(default_factory=list)
    exclude_ids_from: list[str] = field(default_factory=list)
    torch_dtype: str = "bfloat16"
    max_seq_length: int = 256
    total_tokens: int = 1_500_000
    """Residual-stream tokens collected from the corpora (one activation vector each)."""
    shard_tokens: int = 100_000
    """Tokens per activation shard on disk: the unit of resuming the collection."""
    d_sae: int = 8192
    """Latents of the SAE: the size of SPLARE's vocabulary."""
    k: int = 32
    """TopK SAE's active latents per token (not SPLARE's Top-K per text, which is the model's)."""
    batch_size: int = 2048
    """Tokens per SAE optimizer step."""
    lr: float = 5e-4
    lr_end: float = 5e-5
    save_dtype: str = "float16"
    checkpoint_every_steps: int = 400
    """A sae-lens checkpoint (weights, optimizer, whitening, dead-latent statistics) every N steps,
    under ``OUTPUT/<sae>.checkpoints/``; a rerun resumes from the newest (the two newest are kept)."""
    store_dtype: str = "float32"
    """Activation shards' dtype: ``bfloat16`` halves disk and RAM (10M tokens x 640 = 12.8 GB) and
    keeps float32's range (Gemma's residual stream reaches ~8e4, past float16's 65,504)."""
    seed: int = 42

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("layers must name at least one layer")
        if self.k <= 0 or self.k > self.d_sae:
            raise ValueError(f"k={self.k} must be in 1..d_sae={self.d_sae}")
        if self.save_dtype not in ("float16", "float32", "bfloat16"):
            raise ValueError(f"save_dtype={self.save_dtype!r} must be float16, bfloat16 or float32")
        if self.store_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"store_dtype={self.store_dtype!r} must be float32 or bfloat16 (float16 overflows)")


def iter_corpus_texts(paths: list[str], exclude_ids: set[str], seed: int):
    """Document texts (title + text) of BEIR corpora, shuffled deterministically."""
    from splare_pyserini.io.readers import read_corpus

    texts: list[str] = []
    for path in paths:
        for doc in read_corpus(path):
            if doc.docid in exclude_ids:
                continue
            if doc.text.strip():
                texts.append(doc.text)
    random.Random(seed).shuffle(texts)
    return texts


def _excluded_ids(paths: list[str]) -> set[str]:
    ids: set[str] = set()
    for path in paths:
        ids.update(line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())
    return ids


def collect(cfg: SAETrainingConfig, work_dir: Path) -> None:
    """Stage 1: write activation shards ``acts/L{layer}/{n:05d}.pt`` (resumable)."""
    from splare_pyserini.modeling.backbone import CausalLMBackbone, decoder_layers

    state_path = work_dir / "collect_state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {"docs_done": 0, "shards": 0, "tokens": 0}
    if state["tokens"] >= cfg.total_tokens:
        logger.info("collect: %d tokens already stored", state["tokens"])
        return
    texts = iter_corpus_texts(cfg.corpora, _excluded_ids(cfg.exclude_ids_from), cfg.seed)
    backbone = CausalLMBackbone(cfg.backbone, layer=max(cfg.layers), max_seq_length=cfg.max_seq_length,
                                torch_dtype=cfg.torch_dtype)
    captured: dict[int, torch.Tensor] = {}
    layers = decoder_layers(backbone.model)
    hooks = [layers[l].register_forward_hook(lambda m, i, o, l=l: captured.__setitem__(l, o[0] if isinstance(o, tuple) else o))
             for l in cfg.layers]
    buffers: dict[int, list[torch.Tensor]] = {l: [] for l in cfg.layers}
    buffered = 0
    docs_done = state["docs_done"]
    pbar = tqdm(total=cfg.total_tokens, initial=state["tokens"], desc="collect activations", unit="tok")
    batch_docs, window = 16, 512
    pending: list[str] = []
    try:
        while state["tokens"] + buffered < cfg.total_tokens and docs_done < len(texts):
            # Length-sorted batches inside a window of docs: little padding, same order on resume.
            if docs_done % window == 0 or not pending:
                start = docs_done - docs_done % window
                pending = sorted(texts[start: start + window], key=len)[docs_done - start:]
            batch, pending = pending[:batch_docs], pending[batch_docs:]
            features = backbone.preprocess(batch)
            with torch.inference_mode():
                backbone(dict(features))
            keep = features["attention_mask"].bool()
            keep[:, 0] &= features["input_ids"][:, 0] != backbone.tokenizer.bos_token_id
            for l in cfg.layers:
                buffers[l].append(captured[l][keep].to(getattr(torch, cfg.store_dtype)))
            n = int(keep.sum())
            buffered += n
            docs_done += len(batch)
            pbar.update(n)
            if buffered >= cfg.shard_tokens:
                _flush(work_dir, cfg.layers, buffers, state, docs_done, buffered, state_path)
                buffered = 0
        if buffered:
            _flush(work_dir, cfg.layers, buffers, state, docs_done, buffered, state_path)
    finally:
        for h in hooks:
            h.remove()
        pbar.close()


def _flush(work_dir, layers, buffers, state, docs_done, n_tokens, state_path) -> None:
    for l in layers:
        out = work_dir / "acts" / f"L{l}"
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{state['shards']:05d}.pt.tmp"
        torch.save(torch.cat(buffers[l]), tmp)
        tmp.rename(out / f"{state['shards']:05d}.pt")
        buffers[l].clear()
    state.update(shards=state["shards"] + 1, tokens=state["tokens"] + n_tokens, docs_done=docs_done)
    tmp_state = state_path.with_suffix(".tmp")
    tmp_state.write_text(json.dumps(state))
    tmp_state.replace(state_path)


def load_activations(work_dir: Path, layer: int) -> torch.Tensor:
    shards = sorted((work_dir / "acts" / f"L{layer}").glob("*.pt"))
    if not shards:
        raise FileNotFoundError(f"{work_dir / 'acts' / f'L{layer}'}: no activation shards; run the collect stage")
    return torch.cat([torch.load(p) for p in shards])


def explained_variance(sae, acts: torch.Tensor, drop_dims: torch.Tensor | None = None) -> float:
    """1 - residual energy / centred energy, optionally ignoring some dimensions."""
    with torch.no_grad():
        recon = sae.decode(sae.encode(acts))
    keep = torch.ones(acts.shape[1], dtype=torch.bool)
    if drop_dims is not None:
        keep[drop_dims] = False
    resid = ((acts - recon)[:, keep] ** 2).sum()
    total = ((acts - acts.mean(0))[:, keep] ** 2).sum()
    return float(1 - resid / total)


def train_layer(cfg: SAETrainingConfig, work_dir: Path, layer: int, out_dir: Path) -> dict:
    """Stage 2 for one layer; returns the metrics written to ``out_dir/training_log.json``."""
    from sae_lens import SAE
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    if (out_dir / "cfg.json").exists():
        logger.info("train: %s exists, skipping layer %d", out_dir, layer)
        return json.loads((out_dir / "training_log.json").read_text())
    torch.manual_seed(cfg.seed)
    acts = load_activations(work_dir, layer)  # in the stored dtype; batches are cast to float32
    n_eval = min(20_000, len(acts) // 10)
    generator = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(len(acts), generator=generator)
    eval_acts, train_rows = acts[perm[:n_eval]].float(), perm[n_eval:]  # indices: no second copy of acts

    def batches(skip: int = 0):
        """Shuffled epochs over the training rows; ``skip`` batches are passed over without being
        gathered (a resumed run sees the batches the killed one would have)."""
        g = torch.Generator().manual_seed(cfg.seed + 1)
        step = 0
        while True:
            order = train_rows[torch.randperm(len(train_rows), generator=g)]
            for start in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
                if step >= skip:
                    yield acts[order[start: start + cfg.batch_size]].float()
                step += 1

    d_in = acts.shape[1]
    sae_cfg = TopKTrainingSAEConfig(d_in=d_in, d_sae=cfg.d_sae, k=cfg.k, normalize_activations="covariance_whitening")
    sae_cfg.metadata.model_name = cfg.backbone
    sae_cfg.metadata.hook_name = f"blocks.{layer}.hook_resid_post"
    sae = TopKTrainingSAE(sae_cfg)
    total_steps = len(train_rows) // cfg.batch_size
    checkpoints = out_dir.with_name(out_dir.name + ".checkpoints")
    trainer_cfg = SAETrainerConfig(
        total_training_samples=len(train_rows), train_batch_size_samples=cfg.batch_size,
        lr=cfg.lr, lr_end=cfg.lr_end, lr_scheduler_name="cosineannealing", n_batches_for_norm_estimate=100,
        n_checkpoints=max(0, total_steps // cfg.checkpoint_every_steps), checkpoint_path=str(checkpoints),
    )
    norm_batches = trainer_cfg.n_batches_for_norm_estimate  # drawn from the provider before step 0
    resume_from = latest_checkpoint(checkpoints)
    if resume_from is not None:
        from safetensors.torch import load_file
        from sae_lens.constants import SAE_WEIGHTS_FILENAME

        sae.load_state_dict(load_file(str(resume_from / SAE_WEIGHTS_FILENAME)))
    # a resumed provider starts where the checkpoint stopped, past the whitening estimate's batches too
    skip = norm_batches + int(resume_from.name) // cfg.batch_size if resume_from is not None else 0
    trainer = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=batches(skip=skip),
                         save_checkpoint_fn=lambda checkpoint_path: prune_checkpoints(checkpoints))
    if resume_from is not None:
        trainer.load_trainer_state(resume_from)
        trainer.checkpoint_thresholds = [t for t in trainer.checkpoint_thresholds if t > trainer.n_training_samples]
        logger.info("train: resuming layer %d from %s (step %d of %d)", layer, resume_from,
                    trainer.n_training_steps, total_steps)
    start = time.time()
    sae = trainer.fit()
    seconds = time.time() - start
    staging = out_dir.with_name(out_dir.name + ".tmp")
    staging.mkdir(parents=True, exist_ok=True)
    sae.save_inference_model(str(staging))
    inference = SAE.load_from_disk(str(staging))
    inference.to(dtype=getattr(torch, cfg.save_dtype))
    inference.cfg.dtype = cfg.save_dtype
    inference.save_model(str(staging))
    reloaded = SAE.load_from_disk(str(staging), dtype="float32")
    energy = (eval_acts ** 2).mean(0)
    massive = torch.topk(energy, 3).indices
    with torch.no_grad():
        codes = reloaded.encode(eval_acts)
        fired = (codes > 0).any(0)
    metrics = {
        "layer": layer, "hook_name": f"blocks.{layer}.hook_resid_post", "d_sae": cfg.d_sae, "k": cfg.k,
        "train_tokens": len(train_rows), "eval_tokens": n_eval, "seconds": round(seconds, 1),
        "explained_variance": explained_variance(reloaded, eval_acts),
        "explained_variance_without_massive_dims": explained_variance(reloaded, eval_acts, massive),
        "massive_dims": massive.tolist(),
        "massive_dims_energy_share": float(energy[massive].sum() / energy.sum()),
        "latents_never_fired_on_eval": int((~fired).sum()),
        "config": asdict(cfg),
    }
    (staging / "training_log.json").write_text(json.dumps(metrics, indent=2))
    staging.rename(out_dir)
    shutil.rmtree(checkpoints, ignore_errors=True)  # optimizer states: not worth keeping once done
    logger.info("layer %d: %s", layer, {k: v for k, v in metrics.items() if k != "config"})
    return metrics


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete sae-lens checkpoint (named by its training samples) in ``folder``."""
    from sae_lens.constants import TRAINER_STATE_FILENAME

    done = [p for p in folder.glob("*") if p.name.isdigit() and (p / TRAINER_STATE_FILENAME).exists()]
    return max(done, key=lambda p: int(p.name), default=None)


def prune_checkpoints(folder: Path, keep: int = 2) -> None:
    """Keep the ``keep`` newest checkpoints (each holds Adam's state: 3x the SAE's size)."""
    numbered = sorted((p for p in folder.glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
    for old in numbered[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="JSON file of SAETrainingConfig fields (flags below override it)")
    parser.add_argument("--work-dir", required=True, help="activation shards and resume state")
    parser.add_argument("--output-dir", required=True, help="one sae-lens directory per layer: OUTPUT/L{layer}")
    parser.add_argument("--stage", choices=["collect", "train", "all"], default="all")
    parser.add_argument("--layers", type=int, nargs="+")
    parser.add_argument("--corpora", nargs="+", help="BEIR corpus.jsonl files or folders")
    parser.add_argument("--total-tokens", type=int)
    parser.add_argument("--d-sae", type=int)
    parser.add_argument("--k", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    values = json.loads(Path(args.config).read_text()) if args.config else {}
    for key in ("layers", "corpora", "total_tokens", "d_sae", "k"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    cfg = SAETrainingConfig(**values)
    work_dir, out_dir = Path(args.work_dir), Path(args.output_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "training_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.stage in ("collect", "all"):
        collect(cfg, work_dir)
    if args.stage in ("train", "all"):
        for layer in cfg.layers:
            train_layer(cfg, work_dir, layer, out_dir / f"L{layer}_w{cfg.d_sae}")
    return 0
