"""Streaming readers for corpora and topics, with errors that name file, line and field.

Formats, detected per line:
- BEIR JSONL: ``{"_id", "title", "text"}`` (``corpus.jsonl`` / ``queries.jsonl``);
- Pyserini JSONL: ``{"id", "contents"}`` (or ``{"id", "title", "text"}``);
- TSV (MS MARCO ``collection.tsv``, topics): ``id<TAB>text``.
``.gz`` files are read transparently; a UTF-8 BOM and CRLF endings are accepted.
Every reader is a generator: memory stays bounded whatever the corpus size.
"""
from __future__ import annotations

import gzip
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 8 * 1024 * 1024
"""Lines longer than this are rejected before parsing (a corrupt file, not a document)."""

ID_KEYS = ("_id", "id", "docid", "qid")
TEXT_KEYS = ("contents", "text", "title")


class InputFormatError(ValueError):
    """A bad input line; the message starts with ``path:line:``."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = str(path), line


@dataclass(frozen=True)
class Record:
    """One document or query: its id, its text (fields joined), and where it came from."""

    docid: str
    text: str
    line: int

    @property
    def is_empty(self) -> bool:
        return not self.text.strip()


def corpus_files(path: str | Path) -> list[Path]:
    """A file, or the corpus files of a directory (``corpus.jsonl`` first, else every *.jsonl/*.tsv)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"{p}: no such corpus file or directory")
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (p / name).exists():
            return [p / name]
    files = sorted(f for f in p.iterdir() if f.is_file() and _kind(f) is not None)
    if not files:
        raise FileNotFoundError(f"{p}: no *.jsonl, *.jsonl.gz, *.tsv or *.tsv.gz files")
    return files


def _kind(path: Path) -> str | None:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith((".tsv", ".txt")):
        return "tsv"
    return None


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; ``None`` for a line over MAX_LINE_BYTES (never held in memory)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        stream = io.BufferedReader(handle) if not isinstance(handle, io.BufferedReader) else handle
        lineno = 0
        while True:
            raw = stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                # Drain the rest of the over-long line so the next one can still be read (--skip-bad).
                while raw and not raw.endswith(b"\n"):
                    raw = stream.readline(MAX_LINE_BYTES + 1)
                yield lineno, None
                continue
            yield lineno, raw


def _decode(path: Path, lineno: int, raw: bytes | None) -> str:
    if raw is None:
        raise InputFormatError(path, lineno, f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFormatError(path, lineno, f"not valid UTF-8 at byte {exc.start}") from None
    if lineno == 1:
        text = text.removeprefix("\ufeff")
    return text.rstrip("\r\n")


def _join_fields(obj: dict, fields: Sequence[str] | None) -> str | None:
    if fields:
        parts = [obj.get(f) for f in fields]
        present = [p for p in parts if isinstance(p, str)]
        return " ".join(p.strip() for p in present if p.strip()) if present else None
    if isinstance(obj.get("contents"), str):
        return obj["contents"]
    title, text = obj.get("title"), obj.get("text")
    if isinstance(text, str) or isinstance(title, str):
        return " ".join(p.strip() for p in (title, text) if isinstance(p, str) and p.strip())
    return None


def iter_records(
    path: str | Path,
    fields: Sequence[str] | None = None,
    skip_bad: bool = False,
    check_duplicates: bool = True,
) -> Iterator[Record]:
    """Yield :class:`Record` s from one file; raise :class:`InputFormatError` on a bad line.

    ``fields`` picks and orders the JSON text fields to join (default: ``contents``, else
    ``title`` + ``text``). With ``skip_bad`` a bad line is logged and counted instead.
    Empty texts are yielded (the writer gives them a placeholder) and counted in a warning.
    """
    path = Path(path)
    kind = _kind(path)
    if kind is None:
        raise InputFormatError(path, 0, "unknown format: expected .jsonl, .json, .tsv or .txt (optionally .gz)")
    seen: set[str] = set()
    empty = bad = 0
    for lineno, raw in _raw_lines(path):
        try:
            line = _decode(path, lineno, raw)
            if not line.strip():
                continue
            record = _parse_json(path, lineno, line, fields) if kind == "jsonl" else _parse_tsv(path, lineno, line)
            if check_duplicates:
                if record.docid in seen:
                    raise InputFormatError(path, lineno, f"duplicate id {record.docid!r}")
                seen.add(record.docid)
        except InputFormatError as exc:
            if not skip_bad:
                raise
            bad += 1
            logger.warning("skipped: %s", exc)
            continue
        if record.is_empty:
            empty += 1
        yield record
    if empty:
        logger.warning("%s: %d records with empty text (kept, each gets a placeholder term)", path, empty)
    if bad:
        logger.warning("%s: %d bad lines skipped (--skip-bad)", path, bad)


def json_object(path: Path, lineno: int, line: str) -> dict:
    """One JSONL line as a dict; anything else is an error naming the file and line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise InputFormatError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def json_object_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSONL file (``.gz`` too)."""
    for lineno, raw in _raw_lines(path):
        line = _decode(path, lineno, raw)
        if line.strip():
            yield lineno, json_object(path, lineno, line)


def _parse_json(path: Path, lineno: int, line: str, fields: Sequence[str] | None) -> Record:
    obj = json_object(path, lineno, line)
    key = next((k for k in ID_KEYS if k in obj), None)
    if key is None:
        raise InputFormatError(path, lineno, f"missing id field (one of {', '.join(ID_KEYS)})")
    docid = obj[key]
    if isinstance(docid, int) and not isinstance(docid, bool):
        docid = str(docid)
    if not isinstance(docid, str) or not docid.strip():
        raise InputFormatError(path, lineno, f"field {key!r} must be a non-empty string, got {docid!r}")
    if any(c.isspace() for c in docid):
        raise InputFormatError(path, lineno, f"field {key!r} = {docid!r} contains whitespace (TREC run files forbid it)")
    text = _join_fields(obj, fields)
    if text is None:
        wanted = ", ".join(fields) if fields else "contents, or title/text"
        raise InputFormatError(path, lineno, f"missing text field ({wanted})")
    return Record(docid, text, lineno)


def _parse_tsv(path: Path, lineno: int, line: str) -> Record:
    docid, sep, text = line.partition("\t")
    if not sep:
        raise InputFormatError(path, lineno, "expected 'id<TAB>text'")
    if not docid.strip() or any(c.isspace() for c in docid):
        raise InputFormatError(path, lineno, f"bad id {docid!r} (empty or contains whitespace)")
    return Record(docid, text, lineno)


def read_corpus(path: str | Path, fields: Sequence[str] | None = None, skip_bad: bool = False) -> Iterator[Record]:
    """Every record of a corpus file or directory, ids unique across files."""
    seen: set[str] = set()
    for file in corpus_files(path):
        for record in iter_records(file, fields=fields, skip_bad=skip_bad):
            if record.docid in seen:
                exc = InputFormatError(file, record.line, f"duplicate id {record.docid!r} (also in an earlier file)")
                if not skip_bad:
                    raise exc
                logger.warning("skipped: %s", exc)
                continue
            seen.add(record.docid)
            yield record


def read_topics(path: str | Path, skip_bad: bool = False) -> Iterator[Record]:
    """Queries from BEIR ``queries.jsonl`` (``_id``, ``text``) or a ``qid<TAB>text`` TSV."""
    yield from iter_records(path, fields=None, skip_bad=skip_bad)


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """BEIR ``qrels/*.tsv`` (with header) or TREC qrels (``qid 0 docid rel``)."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    for lineno, raw in _raw_lines(path):
        line = _decode(path, lineno, raw)
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if lineno == 1 and parts[0] in ("query-id", "qid", "query_id"):
            continue
        if len(parts) == 3:
            qid, docid, rel = parts
        elif len(parts) == 4:
            qid, _, docid, rel = parts
        else:
            raise InputFormatError(path, lineno, f"expected 3 (BEIR) or 4 (TREC) columns, got {len(parts)}")
        try:
            qrels.setdefault(qid, {})[docid] = int(rel)
        except ValueError:
            raise InputFormatError(path, lineno, f"relevance {rel!r} is not an integer") from None
    return qrels
