"""What a department's spreadsheets in the inbox are, by content: the files a layout picks up, each with
its size, modification time and SHA-256. A run records them (landing/<source> materialization metadata)
and the inbox sensor compares with them, so an unchanged inbox is never re-run."""

from __future__ import annotations

from pathlib import Path

from fund_pipeline.sources.reader import file_sha256, find_files
from fund_pipeline.sources.spec import SourceSpec

FINGERPRINTS_METADATA_KEY = "inbox_fingerprints"


def source_fingerprints(spec: SourceSpec, inbox: Path, previous: dict | None = None) -> dict[str, list]:
    """{file relative to the inbox: [size, mtime, sha256]}; a file whose size and mtime are unchanged
    since `previous` is not re-hashed."""
    previous = previous or {}
    files = {}
    for path in find_files(spec, inbox):
        relative = path.relative_to(inbox).as_posix()
        stat = path.stat()
        known = previous.get(relative)
        same = known and known[0] == stat.st_size and known[1] == stat.st_mtime
        files[relative] = [stat.st_size, stat.st_mtime, known[2] if same else file_sha256(path)]
    return files
