"""Silence exactly the library messages a SPLARE load triggers by design, and nothing else.

- transformers' LOAD REPORT (and its "Loading weights" bar) listing the checkpoint's layers past the cut as UNEXPECTED: the
  backbone is truncated at the SAE's layer on purpose (a report naming any other key, or a
  MISSING/MISMATCH entry, still goes through);
- sentence-transformers' notice that bfloat16 "may be significantly slower" on CPU: the
  shipped models chose bfloat16 because it measured faster here (eval/results/encode-speed);
- peft's use of transformers' deprecated ``is_gradient_checkpointing`` (a FutureWarning about
  library internals, on every adapter load).
"""
from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Callable, Iterator

_LAYER_KEY = re.compile(r"layers\.\{?(\d+)")


class _DropRecords(logging.Filter):
    def __init__(self, drop: Callable[[str], bool]) -> None:
        super().__init__()
        self.drop = drop

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.drop(record.getMessage())


@contextlib.contextmanager
def drop_log_records(logger_name: str, drop: Callable[[str], bool]) -> Iterator[None]:
    """Within the block, ``logger_name``'s records whose message ``drop`` accepts are not emitted."""
    logger = logging.getLogger(logger_name)
    record_filter = _DropRecords(drop)
    logger.addFilter(record_filter)
    try:
        yield
    finally:
        logger.removeFilter(record_filter)


def only_layers_past(last_layer: int) -> Callable[[str], bool]:
    """Accepts a load report whose every entry is an UNEXPECTED key of a layer after ``last_layer``."""
    def accept(message: str) -> bool:
        if "LOAD REPORT" not in message:
            return False
        rows = [line.split("|") for line in message.splitlines() if line.count("|") >= 2]
        entries = [(key.strip(), status.strip()) for key, status, *_ in rows[1:]]  # rows[0]: the header
        if not entries:
            return False
        for key, status in entries:
            match = _LAYER_KEY.search(key)
            if status != "UNEXPECTED" or match is None or int(match.group(1)) <= last_layer:
                return False
        return True
    return accept


@contextlib.contextmanager
def truncated_load(last_layer: int) -> Iterator[None]:
    """Around ``from_pretrained`` of a backbone cut after ``last_layer`` (also without transformers'
    one-second "Loading weights" bar: the encode's own bar follows)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with drop_log_records("transformers.modeling_utils", only_layers_past(last_layer)):
            yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def bf16_cpu_notice(message: str) -> bool:
    return "on CPU. Depending on your CPU, inference may be significantly slower" in message


def sparse_encoder_load():
    """Around ``SparseEncoder(model_dir)`` of a SPLARE model."""
    return drop_log_records("sentence_transformers.base.model", bf16_cpu_notice)


@contextlib.contextmanager
def peft_calls() -> Iterator[None]:
    """Around peft's ``get_peft_model`` / ``PeftModel.from_pretrained``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield
