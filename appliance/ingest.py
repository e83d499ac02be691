"""Offline ingestion: scan → skip unchanged → load → chunk → label → embed → the index writer.

``ingest(paths, settings)`` is the library entry point used by the CLI and the TUI. Parsing
and chunking run in a producer thread while the main thread embeds in batches (torch releases
the GIL), so parsing overlaps embedding. Files are compared by size and mtime first, then by
content hash, so an unchanged folder is re-checked without reading or embedding anything (and
without importing torch). Files that vanished from an ingested folder are removed. One bad
file is reported with a one-line reason and skipped; it never stops the run or touches what is
already indexed. Writing is ``appliance.writer``'s (transactions, swaps, the vector file); see
``appliance.store`` for how a crash at any point stays consistent. With
``ingest.ray_address`` set, parsing and embedding run on a Ray cluster and this process stays
the only writer (``appliance.ingest_ray``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from appliance.chunking import Chunk, Chunker
from appliance.config import OcrSettings, Settings
from appliance.context import ContextVectors, DocumentContext, document_title
from appliance.embedding import Embedder, TextEmbedder
from appliance.errors import ConfigError, LoadError
from appliance.loaders.base import Section
from appliance.store import FileRecord
from appliance.writer import Finished, IndexWriter

if TYPE_CHECKING:
    from appliance.privacy import Verdict


@dataclass
class Failure:
    path: str
    reason: str


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[Failure] = field(default_factory=list)
    chunks: int = 0
    pages: int = 0
    seconds: float = 0.0
    notes: list[tuple[str, str]] = field(default_factory=list)
    rebuilt_vectors: bool = False

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "chunks": self.chunks,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "notes": [{"path": p, "note": n} for p, n in self.notes],
        }


@dataclass(frozen=True)
class Progress:
    """Sent to the progress callback: ``kind`` says what happened."""

    kind: Literal["scanned", "file", "chunks", "ocr"]
    total: int = 0
    path: str = ""
    status: str = ""
    count: int = 0


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class Candidate:
    path: str
    root: str
    relpath: str


# -- scanning -----------------------------------------------------------------------------------
def scan(paths: Sequence[Path]) -> tuple[list[Candidate], list[str]]:
    """Files to consider and the folders whose vanished files should be removed."""
    from appliance.loaders import is_supported

    found: dict[str, Candidate] = {}
    roots: list[str] = []
    for given in paths:
        p = os.path.abspath(os.path.expanduser(str(given)))
        if os.path.isdir(p):
            roots.append(p)
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith(".") or not is_supported(Path(name)):
                        continue
                    full = os.path.join(dirpath, name)
                    found.setdefault(full, Candidate(full, p, os.path.relpath(full, p)))
        elif os.path.lexists(p):
            parent = os.path.dirname(p)
            found.setdefault(p, Candidate(p, parent, os.path.basename(p)))
        else:
            raise ConfigError(f"no such file or folder: {given}")
    return list(found.values()), roots


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# -- the producer's messages --------------------------------------------------------------------
@dataclass
class _Begin:
    cand: Candidate
    kind: str
    sha256: str
    size: int
    mtime_ns: int
    new: bool


@dataclass
class _Chunks:
    chunks: list[Chunk]


@dataclass
class _End:
    pages: int | None
    notes: list[str]


@dataclass
class _Fail:
    cand: Candidate
    reason: str


@dataclass
class _Same:
    cand: Candidate
    touch_mtime: int | None


_DONE = object()
Labeler = Callable[[Candidate, Section, list[Chunk]], None]
"""Sets ``sensitive`` and ``detectors`` on the chunks of one section of a file, in place."""


def _produce(
    cands: list[Candidate],
    known: dict[str, FileRecord],
    make_chunker: Callable[[], Chunker],
    labeler: Labeler | None,
    max_bytes: int,
    out: queue.Queue[object],
    cancel: threading.Event,
    ocr_settings: OcrSettings | None = None,
) -> None:
    from appliance import ocr
    from appliance.loaders import load_file

    chunker: Chunker | None = None
    # OCR'd pages show on the progress bar: the loaders report each one through this thread.
    reading = [""]
    ocr.bind(
        ocr_settings or OcrSettings(), lambda: out.put(Progress("ocr", path=reading[0], count=1))
    )
    try:
        for cand in cands:
            if cancel.is_set():
                break
            reading[0] = cand.relpath
            prev = known.get(cand.path)
            try:
                st = os.stat(cand.path)
            except OSError:
                st = None
            if (
                st is not None
                and prev is not None
                and prev.size == st.st_size
                and (prev.mtime_ns == st.st_mtime_ns)
            ):
                out.put(_Same(cand, None))
                continue
            notes: list[str] = []
            try:
                kind, sections = load_file(Path(cand.path), notes, max_bytes=max_bytes)
                if st is None:  # vanished between the scan and now
                    raise LoadError("cannot read: the file disappeared")
                sha = file_sha256(cand.path)
                if prev is not None and prev.sha256 == sha:
                    out.put(_Same(cand, st.st_mtime_ns))
                    continue
                if chunker is None:
                    chunker = make_chunker()
                out.put(_Begin(cand, kind, sha, st.st_size, st.st_mtime_ns, prev is None))
                context = DocumentContext(cand.relpath, document_title(Path(cand.path), kind))
                pages: set[int] = set()
                batch: list[Chunk] = []
                total = 0
                for section in sections:
                    if section.page is not None:
                        pages.add(section.page)
                    chunks = list(chunker.chunk(section))
                    context.apply(section, chunks)
                    if labeler is not None and chunks:
                        labeler(cand, section, chunks)
                    for chunk in chunks:
                        batch.append(chunk)
                        if len(batch) >= 64:
                            out.put(_Chunks(batch))
                            total += len(batch)
                            batch = []
                    if cancel.is_set():
                        raise LoadError("cancelled")
                if batch:
                    out.put(_Chunks(batch))
                    total += len(batch)
                if total == 0:
                    raise LoadError("no text to index")
                out.put(_End(max(pages) if pages else None, notes))
            except LoadError as exc:
                out.put(_Fail(cand, exc.reason))
            except OSError as exc:
                out.put(_Fail(cand, f"cannot read: {exc.strerror or exc}"))
            except Exception as exc:  # a parser bug must not stop the run
                out.put(_Fail(cand, f"unexpected {type(exc).__name__}: {exc}"[:300]))
    finally:
        out.put(_DONE)


# -- the consumer ---------------------------------------------------------------------------------
class _Embedding:
    """Embeds buffered chunks in batches and hands them to the writer; counts the report."""

    def __init__(
        self, writer: IndexWriter, embedder: TextEmbedder, batch_size: int, report: IngestReport
    ) -> None:
        self.writer = writer
        self.embedder = embedder
        self.batch_size = batch_size
        self.report = report
        self.buffer: list[tuple[int, Chunk]] = []  # (file id, chunk)
        self.ended: dict[int, tuple[_Begin, _End]] = {}
        self.progress: ProgressFn | None = None
        self.contexts = ContextVectors(embedder)

    def begin(self, msg: _Begin) -> int:
        c = msg.cand
        return self.writer.begin_file(
            c.path, c.root, c.relpath, msg.kind, msg.sha256, msg.size, msg.mtime_ns
        )

    def add(self, fid: int, chunks: list[Chunk]) -> None:
        self.buffer.extend((fid, c) for c in chunks)
        if len(self.buffer) >= self.batch_size * 4:
            self.flush()

    def end(self, fid: int, begin: _Begin, end: _End) -> None:
        self.ended[fid] = (begin, end)
        if not any(f == fid for f, _ in self.buffer):
            self.flush()

    def fail(self, fid: int) -> None:
        self.buffer = [(f, c) for f, c in self.buffer if f != fid]
        self.writer.discard_file(fid)

    def flush(self) -> None:
        if self.buffer:
            texts = [c.text for _, c in self.buffer]
            vecs = self.embedder.encode(texts, batch_size=self.batch_size)
            contexts = [c.context for _, c in self.buffer]
            vecs = self.contexts.mix(vecs, contexts, batch_size=self.batch_size)
            self.writer.add_chunks(self.buffer, vecs)
            self.report.chunks += len(self.buffer)
            if self.progress:
                self.progress(Progress("chunks", count=len(self.buffer)))
            self.buffer = []
        finished = list(self.ended.items())
        self.ended.clear()
        self.writer.commit(Finished(fid, end.pages, end.notes) for fid, (_, end) in finished)
        for _, (begin, end) in finished:
            if begin.new:
                self.report.added += 1
            else:
                self.report.updated += 1
            self.report.pages += end.pages or 0
            self.report.notes += [(begin.cand.relpath, n) for n in end.notes]
        if self.progress:
            for _, (begin, _end) in finished:
                self.progress(Progress("file", path=begin.cand.relpath, status="ok"))


def ingest(
    paths: Sequence[Path],
    settings: Settings,
    *,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    embedder: TextEmbedder | None = None,
    labeler: Labeler | None = None,
) -> IngestReport:
    """Ingest files and folders into ``settings.index_dir``; returns what happened."""
    t0 = time.perf_counter()
    cancel = cancel or threading.Event()
    report = IngestReport()
    embedder = embedder or Embedder(settings.embedding.model_dir, settings.embedding.device)
    cands, roots = scan(paths)
    if progress:
        progress(Progress("scanned", total=len(cands)))
    remote = None
    if settings.ingest.ray_address:  # parse and embed on a Ray cluster (an optional extra)
        from appliance.ingest_ray import make_pipeline

        remote = make_pipeline(settings, embedder, labeler)
    if labeler is None:
        labeler = default_labeler(settings)

    try:
        writer = IndexWriter.open(settings.index_dir, embedder.model_id)
    except BaseException:
        if remote is not None:
            remote.close()
        raise
    try:
        known = writer.files()
        if remote is None:
            embedding = _Embedding(writer, embedder, settings.ingest.batch_size, report)
        else:  # connect, start the embedder actors: the writer embeds through them
            embedding = _Embedding(writer, *remote.start(), report)
        embedding.progress = progress
        ing = settings.ingest

        def make_chunker() -> Chunker:
            return Chunker(embedder.token_counter(), ing.chunk_tokens, ing.chunk_overlap)

        q: queue.Queue[object] = queue.Queue(maxsize=64)
        producer = threading.Thread(
            target=_produce if remote is None else remote.produce,
            args=(
                cands,
                known,
                make_chunker,
                labeler,
                ing.max_file_mb << 20,
                q,
                cancel,
                settings.ocr,
            ),
            name="ingest-parse",
            daemon=True,
        )
        producer.start()
        current: tuple[int, _Begin] | None = None
        touched: list[tuple[str, int]] = []
        try:
            while (msg := q.get()) is not _DONE:
                if isinstance(msg, _Same):
                    report.unchanged += 1
                    if msg.touch_mtime is not None:
                        touched.append((msg.cand.path, msg.touch_mtime))
                    if progress:
                        progress(Progress("file", path=msg.cand.relpath, status="unchanged"))
                elif isinstance(msg, _Begin):
                    current = (embedding.begin(msg), msg)
                elif isinstance(msg, _Chunks):
                    assert current is not None
                    embedding.add(current[0], msg.chunks)
                elif isinstance(msg, _End):
                    assert current is not None
                    embedding.end(current[0], current[1], msg)
                    current = None
                elif isinstance(msg, Progress):
                    if progress:
                        progress(msg)
                elif isinstance(msg, _Fail):
                    if current is not None:
                        embedding.fail(current[0])
                        current = None
                    report.failed.append(Failure(msg.cand.relpath, msg.reason))
                    if progress:
                        progress(Progress("file", path=msg.cand.relpath, status="failed"))
            embedding.flush()
        except BaseException:
            cancel.set()
            _drain(q, producer)
            writer.rollback()
            raise
        producer.join()

        # Vanished files, remembered mtimes, roots: one last transaction.
        if not cancel.is_set():
            report.removed += writer.remove_vanished(roots, {c.path for c in cands}, touched)
        writer.save()
        report.rebuilt_vectors |= writer.rebuilt_vectors
    finally:
        writer.close()
        if remote is not None:
            remote.close()
    report.seconds = time.perf_counter() - t0
    return report


def _drain(q: queue.Queue[object], producer: threading.Thread) -> None:
    while producer.is_alive():
        with contextlib.suppress(queue.Empty):
            q.get(timeout=0.1)


def default_labeler(settings: Settings) -> Labeler:
    """Sensitivity labels from the privacy classifier, the same one the router asks.

    Each section (a page) is scanned whole, once, before its chunks are labelled: a chunk is
    sensitive when it overlaps anything found in its page (so a value cut by a chunk boundary,
    or the middle of a key block, is labelled in every chunk it touches), or when its file is
    (a folder rule on any of its paths, a sensitive file name), or when its context is (the
    document title and headings embedded with it, judged like text).
    """
    from appliance.privacy import Classifier, combine

    classifier = Classifier(settings.privacy)
    last: dict[str, Verdict] = {}  # the current file's verdict, judged once per file
    contexts: dict[str, Verdict] = {}  # the current file's chunk contexts, each judged once

    def label(cand: Candidate, section: Section, chunks: list[Chunk]) -> None:
        whole = last.get(cand.path)
        if whole is None:
            last.clear()
            contexts.clear()
            whole = last[cand.path] = classifier.file(cand.relpath, cand.path)
        findings = classifier.section_findings(section.text)
        for chunk in chunks:
            start, end = chunk.start - section.start, chunk.end - section.start
            parts = [classifier.overlapping(findings, start, end), whole]
            if chunk.context:
                if chunk.context not in contexts:
                    contexts[chunk.context] = classifier.text(chunk.context)
                parts.append(contexts[chunk.context])
            verdict = combine(parts)
            chunk.detectors = dict(verdict.reasons)
            chunk.sensitive = verdict.sensitive

    return label
