"""Fine-tune a SPLARE model: peft LoRA on the LLM, the SAE frozen, sentence-transformers' trainer.

    python -m splare_pyserini.train --config encode_scripts/configs/default.yaml
    python -m splare_pyserini.train --config CONFIG.yaml --resume        # after a stop
    torchrun --nproc_per_node 2 -m splare_pyserini.train --config CONFIG.yaml   # data parallel
    accelerate launch -m splare_pyserini.train --config CONFIG.yaml

The config is YAML with five typed sections (``model``, ``lora``, ``data``, ``loss``,
``train``; the dataclasses of :mod:`splare_pyserini.training.config`); ``--set section.key=value`` overrides one field.
The output directory receives Trainer checkpoints (``checkpoint-N/``, each a complete
model directory the encode CLI takes), ``train_data.jsonl`` (the exact examples, hard
negatives included, reused on resume), ``train_log.jsonl``, the resolved
``train_config.yaml``, ``train_summary.json`` (throughput, peak RSS, active latents) and
the final model in ``model/``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

import yaml

from splare_pyserini.training.config import TrainConfig
from splare_pyserini.training.data import build_examples, read_examples, to_dataset, write_examples

logger = logging.getLogger("splare_pyserini.train")

# -- model and loss ------------------------------------------------------------------------
def build_model(config: TrainConfig):
    from peft import LoraConfig

    from splare_pyserini.modeling.model import SplareConfig, SplareModel

    settings = config.model
    if settings.base is not None:
        model = SplareModel.from_pretrained(settings.base)
        if model.backbone.has_adapter():
            raise ValueError(f"{settings.base} already has a LoRA adapter; start from its zero-shot base")
    else:
        model = SplareModel.build(settings.backbone, settings.layer, sae_path=settings.sae_path,
                                  sae_release=settings.sae_release, sae_id=settings.sae_id,
                                  torch_dtype=settings.torch_dtype)
    if model.sae.compute_dtype != "float32":  # gradients flow through the SAE: keep them exact
        logger.info("SAE computed in float32 for training (the base model uses %s at inference)", model.sae.compute_dtype)
        model.sae.set_compute_dtype("float32")
    model.config = SplareConfig(**{**model.config.to_dict(), "query_top_k": settings.query_top_k,
                                   "doc_top_k": settings.doc_top_k})
    backbone = model.backbone
    if backbone.torch_dtype != settings.torch_dtype:
        from splare_pyserini.modeling.backbone import _DTYPES
        from splare_pyserini.modeling.cpu_dtype import runtime_dtype

        backbone.model.to(runtime_dtype(_DTYPES[settings.torch_dtype]))
        backbone.torch_dtype = settings.torch_dtype
    if settings.bidirectional != backbone.bidirectional:
        backbone.set_bidirectional(settings.bidirectional)
    lora = config.lora
    backbone.add_lora(LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                 target_modules=lora.target_modules, bias="none"))
    if config.train.gradient_checkpointing:
        backbone.enable_gradient_checkpointing()
    return model


def build_loss(model, config: TrainConfig):
    from sentence_transformers.sparse_encoder.losses import (
        SparseDistillKLDivLoss,
        SparseMarginMSELoss,
        SparseMultipleNegativesRankingLoss,
    )

    from splare_pyserini.training.losses import SplareLoss

    encoder = model.encoder
    settings = config.loss
    if settings.kind == "infonce":
        ranking = SparseMultipleNegativesRankingLoss(encoder, scale=1.0 / settings.temperature)
    elif settings.kind == "margin_mse":
        ranking = SparseMarginMSELoss(encoder)
    else:
        ranking = SparseDistillKLDivLoss(encoder, student_temperature=settings.temperature,
                                         teacher_temperature=settings.teacher_temperature)
    return SplareLoss(encoder, ranking, document_regularizer_weight=settings.flops_doc,
                      query_regularizer_weight=settings.flops_query,
                      query_top_k=model.config.query_top_k if settings.top_k else None,
                      doc_top_k=model.config.doc_top_k if settings.top_k else None)


# -- run -----------------------------------------------------------------------------------
def train(config: TrainConfig, resume: bool = False) -> Path:
    """Train and return the final model directory (``<output_dir>/model``)."""
    import torch
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sparse_encoder import SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import SpladeRegularizerWeightSchedulerCallback
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from splare_pyserini.training.losses import ActiveLatentsCallback
    from splare_pyserini.training.callbacks import (JsonlLogCallback, KeepLightCheckpoint, SplareConfigOnSave,
                                                    SplareDataCollator, StopAfterSteps)
    from splare_pyserini.training.checkpoints import light_resume_trainer_class, restore_light_checkpoint

    out = Path(config.train.output_dir)
    checkpoint = get_last_checkpoint(str(out)) if out.is_dir() else None
    kept = Path(config.train.keep_checkpoint) if config.train.keep_checkpoint else None
    if resume and checkpoint is None and kept is not None and (kept / "trainer_state.json").exists():
        checkpoint = str(restore_light_checkpoint(kept, out, config.model.base))
    if out.is_dir() and any(out.glob("checkpoint-*")) and not resume:
        raise FileExistsError(f"{out} already holds checkpoints; pass --resume to continue, or choose another output_dir")
    out.mkdir(parents=True, exist_ok=True)
    set_seed(config.train.seed)
    t = config.train
    args = SparseEncoderTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=t.batch_size, learning_rate=t.learning_rate,
        num_train_epochs=t.epochs, max_steps=t.max_steps, warmup_ratio=t.warmup_ratio, weight_decay=t.weight_decay,
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        logging_steps=t.logging_steps, seed=t.seed, data_seed=t.seed, report_to="none",
        batch_sampler=BatchSamplers.NO_DUPLICATES, dataloader_num_workers=t.dataloader_num_workers,
        dataloader_drop_last=True, use_cpu=not torch.cuda.is_available(), ddp_find_unused_parameters=False,
    )
    data_file = out / "train_data.jsonl"
    # The main process reads the sources and mines negatives (one BM25 index); the other ranks
    # (torchrun/accelerate) wait, then read the examples file it wrote.
    with args.main_process_first(desc="training examples"):
        if data_file.exists() and (resume or not args.should_save):
            examples = read_examples(data_file)
            logger.info("%s: %d examples from %s", "resume" if resume else "rank", len(examples), data_file)
        else:
            from splare_pyserini.lucene import cli_runner

            with cli_runner.shared_worker():  # one BM25 index and search per source: the JVM starts once
                examples = build_examples(config, out / "work")
            write_examples(examples, data_file)
    dataset = to_dataset(examples, config)
    if args.should_save:
        (out / "train_config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")

    model = build_model(config)
    loss = build_loss(model, config)
    collator = SplareDataCollator(preprocess_fn=model.encoder.preprocess, max_length=config.data.doc_max_length,
                                  query_max_length=config.data.query_max_length)
    callbacks = [SpladeRegularizerWeightSchedulerCallback(loss, scheduler_type="quadratic",
                                                          warmup_ratio=config.loss.flops_warmup_ratio),
                 ActiveLatentsCallback(loss), JsonlLogCallback(out / "train_log.jsonl"),
                 SplareConfigOnSave(model.config), StopAfterSteps(t.stop_after_steps)]
    if kept is not None:  # after SplareConfigOnSave: the kept copy is a full model dir
        callbacks.append(KeepLightCheckpoint(kept, drop_sae=config.model.base is not None))
    trainer = light_resume_trainer_class()(
        model=model.encoder, args=args, train_dataset=dataset, loss=loss, data_collator=collator,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint if resume else None)
    elapsed = time.perf_counter() - start
    final = out / "model"
    if trainer.is_world_process_zero():
        model.save_pretrained(final)
        steps_run = result.global_step - (_checkpoint_step(checkpoint) if resume and checkpoint else 0)
        summary = {
            "examples": len(examples),
            "global_step": result.global_step,
            "steps_this_run": steps_run,
            "train_seconds_this_run": round(elapsed, 1),
            "examples_per_second": round(steps_run * t.batch_size / elapsed, 3) if elapsed else None,
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "final_loss": result.training_loss,
        }
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        logger.info("saved %s; %s", final, summary)
    _leave_process_group(trainer)
    return final


def _leave_process_group(trainer) -> None:
    """torchrun/accelerate: every rank waits for rank 0's save; the trainer (so DDP's reducer and
    its gloo process group) is then kept alive until the rank ends with :func:`_end_rank`.

    Freeing them here deadlocked a rank about once in 10 loaded runs (py-spy): the main thread,
    holding the GIL, joins a gloo worker in ``~ProcessGroupGloo`` while that worker, destroying the
    last barrier's work, waits for the GIL to decref a tensor (pytorch/pytorch#190489). Left to
    interpreter exit, the same teardown aborted a rank (SIGABRT)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        trainer.accelerator.wait_for_everyone()
        _KEEP_UNTIL_EXIT.append(trainer)


_KEEP_UNTIL_EXIT: list = []  # distributed trainers, never freed before os._exit (see above)


def _checkpoint_step(path: str) -> int:
    return int(Path(path).name.rsplit("-", 1)[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--config", required=True, help="YAML training config")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config field (YAML value), e.g. --set train.max_steps=10")
    parser.add_argument("--output-dir", help="shortcut for --set train.output_dir=...")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = list(args.set) + ([f"train.output_dir={args.output_dir}"] if args.output_dir else [])
    try:
        config = TrainConfig.from_yaml(args.config, overrides)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    try:
        train(config, resume=args.resume)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    if _KEEP_UNTIL_EXIT:  # a distributed rank: see _leave_process_group
        _end_rank()
    return 0


def _end_rank() -> None:
    """End a torchrun/accelerate rank once everything is written, without freeing the process
    group or finalizing the interpreter: both race gloo's worker threads for the GIL (see
    :func:`_leave_process_group`). Python API users in a distributed job end ranks the same way."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
