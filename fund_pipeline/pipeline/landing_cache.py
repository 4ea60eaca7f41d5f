"""What each spreadsheet yielded when it was last read, kept by its content.

A department re-sends one file of twenty-eight: only that file is read again. The others' records,
problems, totals and notes come back from this cache exactly as the reader returned them, so the source's
combined frame, its findings and row numbers are the same as after reading every file.

An entry is keyed by the file's SHA-256, its path in the inbox (records carry it, and file-name fields are
taken from it) and a fingerprint of everything else the reader's output depends on: the layout, the
reader's code, the township spellings, and the library versions. Change any of them and every file of the
source is read again. The cache is a convenience: a missing or unreadable entry is simply read again.

An entry holds two pickles, one after the other: what the file says about itself (problems, totals, the
file's description, notes, and how many rows it yielded), then its rows. A source landed file by file
(pipeline/ingest.py) needs the first of an unchanged file, never its rows.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fund_pipeline.sources.reader import SourceRead
from fund_pipeline.sources.spec import SourceSpec

_PACKAGE = Path(__file__).resolve().parents[1]
_READER_CODE = ("sources", "reference", "configuration.py")
_ABOUT = ("problems", "totals", "files", "notes")  # what the file says about itself: the first pickle


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """The reader's own code and the libraries that shape its frames."""
    import python_calamine

    digest = hashlib.sha256()
    for name in _READER_CODE:
        path = _PACKAGE / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(_PACKAGE).as_posix().encode())
            digest.update(file.read_bytes())
    digest.update(f"{pd.__version__}|{getattr(python_calamine, '__version__', '')}".encode())
    return digest.hexdigest()


def reader_fingerprint(spec: SourceSpec) -> str:
    """Everything but the file that decides what reading it yields."""
    from fund_pipeline.reference import township_lookup

    spellings = sorted((name, t.name, t.code) for name, t in township_lookup().items())
    text = f"{_code_fingerprint()}|{spec!r}|{spellings!r}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachedAbout:
    """A file's read as the cache holds it (`read.records` None where its rows were not loaded), and the number
    of rows it yielded."""

    read: SourceRead
    rows: int


class LandingCache:
    """Per source: one pickle per (file path, SHA-256) under `<root>/landing/<source>/`."""

    def __init__(self, root: Path, spec: SourceSpec):
        self.folder = Path(root) / "landing" / spec.name
        self.fingerprint = reader_fingerprint(spec)
        self.used: set[Path] = set()

    def _path(self, relative: str, sha: str) -> Path:
        key = hashlib.sha256(f"{self.fingerprint}|{relative}|{sha}".encode()).hexdigest()[:40]
        return self.folder / f"{key}.pkl"

    def holds(self, relative: str, sha: str) -> bool:
        """Whether an entry for this file exists (without loading it; `get` may still find it unusable)."""
        return self._path(relative, sha).is_file()

    def get(self, relative: str, sha: str) -> SourceRead | None:
        loaded = self._load(relative, sha, with_rows=True)
        return None if loaded is None else loaded.read

    def get_about(self, relative: str, sha: str) -> CachedAbout | None:
        """What the file said about itself when read, and how many rows it yielded, without loading its rows."""
        return self._load(relative, sha, with_rows=False)

    def _load(self, relative: str, sha: str, with_rows: bool) -> CachedAbout | None:
        path = self._path(relative, sha)
        self.used.add(path)
        records = None
        try:
            with path.open("rb") as handle:
                about = pickle.load(handle)
                if not isinstance(about, dict) or about.get("fingerprint") != self.fingerprint \
                        or {*_ABOUT, "rows"} - about.keys():
                    return None
                if with_rows:
                    records = pickle.load(handle)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            return None  # absent, half-written by a killed run, or from another version: read the file again
        if with_rows and (not isinstance(records, pd.DataFrame) or len(records) != about["rows"]):
            return None
        return CachedAbout(SourceRead(records=records, **{name: about[name] for name in _ABOUT}), int(about["rows"]))

    def put(self, relative: str, sha: str, read: SourceRead) -> bool:
        """Keep a file's read; False where it could not be written."""
        path = self._path(relative, sha)
        self.used.add(path)
        about = {"fingerprint": self.fingerprint, "rows": len(read.records), **{name: getattr(read, name) for name in _ABOUT}}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Written beside and renamed: a reader never sees half a file, two runs never mix theirs.
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                pickle.dump(about, out, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(read.records, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except OSError:
            return False  # a full or read-only disk costs a re-read next time, never a failed run
        return True

    def prune(self) -> None:
        """Drop the entries of files this source no longer has (older versions, removed files)."""
        if not self.folder.is_dir():
            return
        for entry in self.folder.iterdir():
            if entry not in self.used:
                entry.unlink(missing_ok=True)
