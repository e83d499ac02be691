"""The index's two sides on their own: ``IndexWriter`` (begin, add, commit, discard, remove,
the generation, the vector file) and the read API of ``Store`` and ``VectorIndex`` (path
filters, bm25, a page's chunks, vector search with an allow-list), without an embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.chunking import Chunk
from appliance.errors import IndexError_
from appliance.store import ChunkRecord, Store
from appliance.vectors import BEHIND, VectorIndex
from appliance.writer import Finished, IndexWriter

DIM = 8
MODEL = "test:unit-vectors"


def _unit(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i % DIM] = 1.0
    return v


def _chunks(texts: list[str], page: int | None = 1, sensitive: bool = False) -> list[Chunk]:
    out, pos = [], 0
    for text in texts:
        out.append(Chunk(page, pos, pos + len(text), text, len(text.split()), sensitive))
        pos += len(text) + 1
    return out


def _write(
    writer: IndexWriter, path: str, texts: list[str], *, axis: int = 0, sensitive: bool = False
) -> int:
    """One complete file whose chunks point along ``axis``, ``axis + 1``, ..."""
    fid = writer.begin_file(path, "/docs", path.removeprefix("/docs/"), "text", path, 1, 1)
    chunks = _chunks(texts, sensitive=sensitive)
    writer.add_chunks(
        [(fid, c) for c in chunks], np.vstack([_unit(axis + i) for i in range(len(chunks))])
    )
    writer.commit([Finished(fid, 1, [])])
    return fid


def test_writer_swaps_files_and_keeps_vectors_in_step(tmp_path: Path) -> None:
    index = tmp_path / "index"
    with IndexWriter.open(index, MODEL) as writer:
        _write(writer, "/docs/lease.txt", ["The annual rent is due.", "Notice is three months."])
        _write(writer, "/docs/memo.txt", ["Harbour crane inspection."], axis=4, sensitive=True)
        assert writer.store.generation == 2
        # A new version replaces the old one: its chunks go, from SQLite and from the vectors.
        _write(writer, "/docs/lease.txt", ["The rent is now monthly."], axis=2)
        assert writer.store.generation == 3
        assert writer.vectors().ntotal == 2
        writer.save()
    with Store.open(index, embedding_model=MODEL) as store:
        assert VectorIndex.intact(store) and VectorIndex.problem(store) is None
        stats = store.stats()
        assert (stats["files"], stats["chunks"], stats["sensitive_chunks"]) == (2, 2, 1)
        texts = {r.text for r in store.chunk_records(range(1, 10)).values()}
        assert texts == {"The rent is now monthly.", "Harbour crane inspection."}


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with IndexWriter.open(tmp_path, MODEL), pytest.raises(IndexError_, match="another ingest"):
        IndexWriter.open(tmp_path, MODEL)
    IndexWriter.open(tmp_path, MODEL).close()  # released on close
    with Store.open(tmp_path) as reader, pytest.raises(RuntimeError, match="writer lock"):
        reader.begin()  # a reader never writes


def test_discarded_and_uncommitted_files_leave_nothing(tmp_path: Path) -> None:
    with IndexWriter.open(tmp_path, MODEL) as writer:
        _write(writer, "/docs/kept.txt", ["Kept text."])
        fid = writer.begin_file("/docs/bad.pdf", "/docs", "bad.pdf", "pdf", "x", 1, 1)
        writer.add_chunks([(fid, c) for c in _chunks(["half a file"])], _unit(1)[None])
        writer.discard_file(fid)
        writer.commit()
        pending = writer.begin_file("/docs/late.txt", "/docs", "late.txt", "text", "y", 1, 1)
        writer.add_chunks([(pending, c) for c in _chunks(["never finished"])], _unit(2)[None])
        writer.commit()  # committed as pending: invisible to readers, swept by the next writer
        writer.save()
    with Store.open(tmp_path) as store:
        assert set(store.files()) == {"/docs/kept.txt"}
        assert store.bm25('"half" OR "finished"', 10, 1.0) == []
    with IndexWriter.open(tmp_path, MODEL) as writer:
        assert writer.store.conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 1


def test_vanished_files_are_removed_and_the_file_repaired(tmp_path: Path) -> None:
    with IndexWriter.open(tmp_path, MODEL) as writer:
        _write(writer, "/docs/a.txt", ["Alpha."])
        _write(writer, "/docs/b.txt", ["Beta."], axis=1)
        writer.save()
    with IndexWriter.open(tmp_path, MODEL) as writer:
        assert writer.remove_vanished(["/docs"], {"/docs/a.txt"}, [("/docs/a.txt", 42)]) == 1
        writer.save()
    with Store.open(tmp_path) as store:
        assert {p: f.mtime_ns for p, f in store.files().items()} == {"/docs/a.txt": 42}
        assert store.roots() == ["/docs"] and VectorIndex.intact(store)
        # The SQLite side changes behind the file's back: the rule sees it, a writer repairs it.
        store.conn.execute("UPDATE meta SET value = '99' WHERE key = 'generation'")
        assert VectorIndex.problem(store) == BEHIND
    with IndexWriter.open(tmp_path, MODEL) as writer:
        assert VectorIndex.needs_repair(writer.store)
        writer.save()
        assert writer.rebuilt_vectors and not VectorIndex.needs_repair(writer.store)


def test_an_index_without_vectors_needs_no_vector_file(tmp_path: Path) -> None:
    with IndexWriter.open(tmp_path, MODEL) as writer:
        writer.save()
    with Store.open(tmp_path) as store:
        assert store.dimension is None
        assert VectorIndex.problem(store) is None and not VectorIndex.needs_repair(store)
        assert VectorIndex.load_checked(store)[1] is None


def test_read_api(tmp_path: Path) -> None:
    with IndexWriter.open(tmp_path, MODEL) as writer:
        lease = _write(writer, "/docs/contracts/lease.txt", ["The rent is due.", "Rent rises."])
        _write(writer, "/docs/notes.md", ["Rent review notes."], axis=3)
        writer.save()
    with Store.open(tmp_path) as store:
        ids = store.file_chunk_ids([lease])
        assert store.chunk_ids_matching("contracts/*") == ids
        assert store.chunk_ids_matching("/docs/contracts/*.txt") == ids
        assert store.chunk_ids_matching("*.pdf") == set()

        hits = store.bm25('"rent"', 10, 1.0)
        assert {cid for cid, _ in hits} == ids | store.chunk_ids_matching("notes.md")
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        assert len(store.bm25('"rent"', 1, 1.0)) == 1

        chunks, page_end = store.page_chunks("/docs/contracts/lease.txt", 1, 0, 5)
        assert chunks == [("The rent is due.", 0, 16)] and page_end == 28
        assert store.page_chunks("/docs/contracts/lease.txt", 2, 0, 5) == ([], None)

        vectors = store.chunk_vectors([*ids, 999])
        assert set(vectors) == ids and np.array_equal(vectors[min(ids)], _unit(0))
        assert list(store.headed_contexts()) == []  # no headings line in these contexts

        vindex, problem = VectorIndex.load_checked(store)
        assert problem is None
        assert [c for c, _ in vindex.search(_unit(3), 1)] == list(store.chunk_ids_matching("*.md"))
        best, _ = vindex.search(_unit(3), 1, allowed=ids)[0]  # the nearest of the lease only
        assert best in ids
        assert vindex.search(_unit(3), 5, allowed=set()) == []


def test_chunk_record_is_what_a_hit_carries(tmp_path: Path) -> None:
    from appliance.retrieve import Hit

    rec = ChunkRecord(3, "lease.pdf", "/docs/lease.pdf", 2, 10, 30, "The rent is due.")
    hit = Hit(rec, 0.5, dense=0.9, dense_rank=1)
    assert (hit.chunk_id, hit.where, hit.text, hit.sensitive, hit.detectors) == (
        3,
        "lease.pdf p.2",
        "The rent is due.",
        False,
        {},
    )
    assert hit.record is rec


def test_a_swap_is_one_transaction_even_when_its_chunks_were_committed(tmp_path: Path) -> None:
    with IndexWriter.open(tmp_path, MODEL) as writer:
        _write(writer, "/docs/a.txt", ["Old version."])
        fid = writer.begin_file("/docs/a.txt", "/docs", "a.txt", "text", "new", 1, 1)
        writer.add_chunks([(fid, c) for c in _chunks(["New version."])], _unit(1)[None])
        writer.commit()  # the chunks are committed, the file still pending
        statements: list[str] = []
        writer.store.conn.set_trace_callback(statements.append)
        writer.commit([Finished(fid, 1, [])])
        writer.store.conn.set_trace_callback(None)
        writes = [
            s.split()[0]
            for s in statements
            if s.split()[0] in ("BEGIN", "DELETE", "UPDATE", "INSERT", "COMMIT")
        ]
        assert writes[0] == "BEGIN" and writes[-1] == "COMMIT" and writes.count("BEGIN") == 1
        assert "DELETE" in writes and "UPDATE" in writes
