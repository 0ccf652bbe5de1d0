"""Lucene ``JsonVectorCollection`` output: atomic JSONL parts plus a manifest for resuming.

Anserini indexes every file under its ``--input`` directory (hidden files and
sub-directories included), so the output directory holds nothing but complete JSONL
parts; temporaries and the manifest live in a sibling state directory
``.<name>.splare/``. Each part is written there and renamed into place when complete,
then the manifest (itself replaced atomically) records it together with how many input
records it covers. A run killed at any point leaves only complete parts that the
manifest knows about; ``--resume`` deletes stray temporaries, skips the records already
covered and continues with the next part, so every id is written exactly once.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from splare_pyserini.modeling.sparse_vectors import PLACEHOLDER_TERM



def write_text_atomically(path: Path, text: str) -> Path:
    """``path`` holds either its old content or all of ``text``, never a part (temporary + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def state_dir(out_dir: Path) -> Path:
    """Where temporaries and manifests of ``out_dir`` live (same filesystem: renames are atomic)."""
    out_dir = out_dir.resolve()  # "." has no name: resolve so the state never lands inside out_dir
    return out_dir.parent / f".{out_dir.name}.splare"


@dataclass
class Manifest:
    """What a (possibly interrupted) encode has finished."""

    settings: dict
    parts: list[dict] = field(default_factory=list)
    complete: bool = False

    @property
    def records_done(self) -> int:
        return sum(p["records"] for p in self.parts)


def vector_line(docid: str, contents: str, vector: dict[str, int]) -> str:
    """One JsonVectorCollection line; an empty vector gets the placeholder term."""
    if not vector:
        vector = {PLACEHOLDER_TERM: 1}
    return json.dumps({"id": docid, "contents": contents, "vector": vector}, ensure_ascii=False) + "\n"


class VectorWriter:
    """Write encoded records into ``out_dir`` as ``{prefix}-{n:05d}.jsonl`` parts."""

    def __init__(self, out_dir: str | os.PathLike, settings: dict, prefix: str = "part",
                 records_per_part: int = 10_000, resume: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.prefix = prefix
        self.records_per_part = records_per_part
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.state = state_dir(self.out_dir)
        self.state.mkdir(exist_ok=True)
        manifest_path = self.manifest_path = self.state / f"{prefix}.manifest.json"
        existing = list(self.out_dir.glob(f"{prefix}-*.jsonl"))
        if resume and manifest_path.exists():
            self.manifest = Manifest(**json.loads(manifest_path.read_text(encoding="utf-8")))
            if self.manifest.settings != settings:
                changed = sorted(k for k in set(settings) | set(self.manifest.settings)
                                 if settings.get(k) != self.manifest.settings.get(k))
                raise ValueError(f"{manifest_path}: cannot resume, settings differ in {changed}")
            known = {p["file"] for p in self.manifest.parts}
            for path in self.out_dir.glob(f"{prefix}-*.jsonl"):
                if path.name not in known:
                    path.unlink()  # renamed but not yet recorded when the run died
        elif existing:
            raise FileExistsError(f"{self.out_dir} already holds {prefix}-*.jsonl files; pass --resume to continue "
                                  "a previous run, or choose an empty directory")
        else:
            self.manifest = Manifest(settings=settings)
        for tmp in self.state.glob(f"{prefix}-*.tmp"):
            tmp.unlink()
        self._lines: list[str] = []
        self._records = 0

    @property
    def records_done(self) -> int:
        """Input records covered by finished parts (the ones to skip on resume)."""
        return self.manifest.records_done

    def add(self, docid: str, contents: str, vector: dict[str, int]) -> None:
        self.add_line(vector_line(docid, contents, vector))

    def add_line(self, line: str) -> None:
        self._lines.append(line)
        self._records += 1
        if self._records >= self.records_per_part:
            self.flush()

    def skip(self, n: int = 1) -> None:
        """Count input records that produce no line (skipped bad or other-shard records)."""
        self._records += n

    def flush(self) -> None:
        if not self._records:
            return
        name = f"{self.prefix}-{len(self.manifest.parts):05d}.jsonl"
        tmp = self.state / f"{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.writelines(self._lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.out_dir / name)
        self.manifest.parts.append({"file": name, "records": self._records, "lines": len(self._lines)})
        self._save_manifest()
        self._lines, self._records = [], 0

    def close(self) -> None:
        self.flush()
        self.manifest.complete = True
        self._save_manifest()

    def _save_manifest(self) -> None:
        tmp = self.manifest_path.with_name(self.manifest_path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self.manifest), indent=1), encoding="utf-8")
        os.replace(tmp, self.manifest_path)
