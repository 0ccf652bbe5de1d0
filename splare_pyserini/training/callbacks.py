"""Trainer plumbing for SPLARE runs: a JSONL training log, checkpoints the encode CLI can open, and
a collator with separate query/document length caps."""
from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

from sentence_transformers.sparse_encoder.data_collator import SparseEncoderDataCollator
from transformers import TrainerCallback


class JsonlLogCallback(TrainerCallback):
    """Append every log entry (loss terms, FLOPS weights, active latents, lr) with its step to a JSONL
    file, with the wall-clock time and the process's CPU seconds and peak RSS so far (a campaign's
    throughput and CPU hours are read back from the log, across resumed sessions)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or not state.is_world_process_zero:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            handle.write(json.dumps({"step": state.global_step, "epoch": state.epoch, **logs, "time": round(time.time(), 1),
                                     "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                                     "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2)}) + "\n")


class SplareConfigOnSave(TrainerCallback):
    """Write ``splare_config.json`` into every ``checkpoint-N/`` so a checkpoint is a full model dir."""

    def __init__(self, config) -> None:
        self.config = config

    def on_save(self, args, state, control, **kwargs):
        from splare_pyserini.modeling.model import SPLARE_CONFIG

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            (folder / SPLARE_CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")


class KeepLightCheckpoint(TrainerCallback):
    """After every save, the checkpoint's small files go to ``folder`` (see ``train.keep_checkpoint``)."""

    def __init__(self, folder: str | Path, drop_sae: bool) -> None:
        self.folder, self.drop_sae = Path(folder), drop_sae

    def on_save(self, args, state, control, **kwargs):
        from splare_pyserini.training.checkpoints import keep_light_checkpoint

        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and checkpoint.is_dir():
            keep_light_checkpoint(checkpoint, self.folder, drop_sae=self.drop_sae)


class StopAfterSteps(TrainerCallback):
    """Stop (and save) at ``step`` without touching the schedule computed for the whole run."""

    def __init__(self, step: int | None) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if self.step is not None and state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True
        return control


@dataclass
class SplareDataCollator(SparseEncoderDataCollator):
    """sentence-transformers' collator with a shorter cap for the first column (the queries):
    ``query_max_length`` there, ``max_length`` for the documents."""

    query_max_length: int | None = None

    def _get_task_for_column(self, column_name: str, column_position: int, router_mapping: dict[str, str]):
        self._column_position = column_position
        return super()._get_task_for_column(column_name, column_position, router_mapping)

    def _get_max_length_for_task(self, task: str | None) -> int | None:
        if self.query_max_length is not None and getattr(self, "_column_position", None) == 0:
            return self.query_max_length
        return super()._get_max_length_for_task(task)
