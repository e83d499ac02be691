"""OCR on real filings: character error rate against the text layer, pages/s, and retrieval on
image-only copies against the text-layer originals.

Pages of the dev-set filings (``../shared/devset/financebench``, read, never copied into the
repository; the section is skipped with a note when it is absent) are cut into small PDFs: for
each chosen question, its evidence page and the pages around it. Each cut is also rendered at
``DPI`` (greyscale) and saved as an image-only PDF, the way a scanner would hand it over. Both
sets are ingested through ``appliance.ingest`` into two indexes; the image-only ingest OCRs
every page, and what OCR read on each page is compared with that page's text layer:

- character error rate (edit distance / reference length) on body-text pages (mostly letters,
  at least 800 characters: tables read line by line in another order than the text layer, so
  they are reported apart, as all pages), with whitespace collapsed and with it removed (the
  recognition model sometimes drops a space between words, which costs a character each);
- OCR pages/s on this machine (seconds inside the OCR engine; the CPU count is printed);
- page hit@5 and hit@1 of hybrid retrieval for those questions on each index.

OCR is slow on two cores (tens of seconds per dense page), so the default is a subset: ``QUESTIONS``
questions (``QUICK_QUESTIONS`` with ``--quick``), one per filing, ``AROUND`` pages either
side. The numbers say how many pages and questions they rest on.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance import ocr
from appliance.config import load_settings
from appliance.ingest import ingest
from appliance.retrieve import Retriever
from bench.report import Grid, SectionResult

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT.parent / "shared" / "devset" / "financebench"
DPI = 200
AROUND = 1
QUESTIONS = 10
QUICK_QUESTIONS = 3
TARGET_CER = 0.05
TARGET_HIT5_GAP = 0.05


def levenshtein(a: str, b: str) -> int:
    """Edit distance, one numpy row at a time: ``levenshtein("kitten", "sitting")`` → 3."""
    if not a or not b:
        return len(a) or len(b)
    av = np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32)
    bv = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    idx = np.arange(len(b) + 1, dtype=np.int64)
    row = idx.copy()
    for i, code in enumerate(av, start=1):
        sub = row[:-1] + (bv != code)
        tmp = np.empty_like(row)
        tmp[0] = i
        tmp[1:] = np.minimum(row[1:] + 1, sub)
        # Insertions: row[j] = min over k <= j of tmp[k] + (j - k).
        row = np.minimum.accumulate(tmp - idx) + idx
    return int(row[-1])


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _squeeze(text: str) -> str:
    return "".join(text.split())


def body_text(text: str) -> bool:
    """Prose, not a table: at least 800 characters, of which at least 70% letters."""
    chars = _squeeze(text)
    return len(chars) >= 800 and sum(c.isalpha() for c in chars) >= 0.7 * len(chars)


def _choose(quick: bool) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in (DEVSET / "questions.jsonl").open()]
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:  # one question per filing, in file order
        if item["file"] not in seen:
            seen.add(item["file"])
            chosen.append(item)
    return chosen[: QUICK_QUESTIONS if quick else QUESTIONS]


def _cut(item: dict[str, Any], text_dir: Path, scan_dir: Path) -> tuple[str, dict[int, str]]:
    """Write the text-layer cut and its image-only copy; returns (name, page → text layer)."""
    import pypdfium2 as pdfium
    from PIL import Image

    src = pdfium.PdfDocument(DEVSET / item["file"], password="")
    first = max(1, item["page"] - AROUND)
    last = min(len(src), item["page"] + AROUND)
    name = f"{Path(item['file']).stem}_p{first}-{last}.pdf"
    cut = pdfium.PdfDocument.new()
    cut.import_pages(src, list(range(first - 1, last)))
    cut.save(text_dir / name)
    layers: dict[int, str] = {}
    images: list[Image.Image] = []
    for new, old in enumerate(range(first - 1, last), start=1):
        page = src[old]
        textpage = page.get_textpage()
        layers[new] = textpage.get_text_range()
        textpage.close()
        images.append(page.render(scale=DPI / 72, grayscale=True).to_pil())
        page.close()
    images[0].save(scan_dir / name, "PDF", save_all=True, append_images=images[1:], resolution=DPI)
    src.close()
    return name, layers


def _hits(index: Path, embedder: Any, questions: list[dict[str, Any]], names: dict) -> list[int]:
    settings = load_settings(index_dir=index)
    retriever = Retriever(settings, embedder=embedder)
    ranks = []
    try:
        for item in questions:
            want = (names[item["file"]][0], item["page"] - names[item["file"]][1] + 1)
            hits = retriever.search(item["question"], 5, method="hybrid")
            rank = next((r for r, h in enumerate(hits, 1) if (h.file, h.page) == want), 0)
            ranks.append(rank)
    finally:
        retriever.close()
    return ranks


def run(workdir: Path, embedder: Any, *, quick: bool = False) -> SectionResult:
    result = SectionResult("ocr", "OCR: scanned copies of real filings")
    if not (DEVSET / "questions.jsonl").is_file():
        result.notes.append(f"skipped: the dev set is not at {DEVSET}")
        return result
    try:
        ocr.engine()
    except ocr.OcrUnavailable as exc:
        result.notes.append(f"skipped: {exc}")
        return result
    text_dir, scan_dir = workdir / "text", workdir / "scans"
    text_dir.mkdir()
    scan_dir.mkdir()
    questions = _choose(quick)
    names: dict[str, tuple[str, int]] = {}
    layers: dict[tuple[str, int], str] = {}
    for item in questions:
        name, pages = _cut(item, text_dir, scan_dir)
        names[item["file"]] = (name, max(1, item["page"] - AROUND))
        layers.update({(name, p): t for p, t in pages.items()})

    # What OCR read on each page, captured as the loaders hand it over.
    read: dict[tuple[str, int], str] = {}
    current = [""]
    original = ocr.page_section

    def recording(image: Any, page: int) -> Any:
        section, reason = original(image, page)
        read[(current[0], page)] = section.text if section is not None else ""
        return section, reason

    ocr.page_section = recording
    pages_before, seconds_before = ocr.stats.pages, ocr.stats.seconds
    t0 = time.perf_counter()
    try:
        for path in sorted(scan_dir.iterdir()):
            current[0] = path.name
            scan_settings = load_settings(index_dir=workdir / "index-scans")
            ingest([path], scan_settings, embedder=embedder)
    finally:
        ocr.page_section = original
    wall = time.perf_counter() - t0
    ocr_pages = ocr.stats.pages - pages_before
    ocr_seconds = ocr.stats.seconds - seconds_before
    ingest(
        sorted(text_dir.iterdir()),
        load_settings(index_dir=workdir / "index-text"),
        embedder=embedder,
    )

    # Character error rates.
    rows: list[list[float | int | str]] = []
    sums = {k: [0, 0] for k in ("body", "body_nospace", "all", "all_nospace")}
    for key, layer in sorted(layers.items()):
        got = read.get(key, "")
        ref_c, got_c = _collapse(layer), _collapse(got)
        ref_s, got_s = _squeeze(layer), _squeeze(got)
        if not ref_s:
            continue
        d_c, d_s = levenshtein(got_c, ref_c), levenshtein(got_s, ref_s)
        body = body_text(layer)
        for kind, d, n in (("all", d_c, len(ref_c)), ("all_nospace", d_s, len(ref_s))):
            sums[kind][0] += d
            sums[kind][1] += n
            if body:
                sums[kind.replace("all", "body")][0] += d
                sums[kind.replace("all", "body")][1] += n
        rows.append([f"{key[0]} p{key[1]}", "body" if body else "table/other", d_c / len(ref_c)])
    cer = {k: (d / n if n else float("nan")) for k, (d, n) in sums.items()}
    body_pages = sum(1 for r in rows if r[1] == "body")

    text_ranks = _hits(workdir / "index-text", embedder, questions, names)
    scan_ranks = _hits(workdir / "index-scans", embedder, questions, names)

    def hit(ranks: list[int], k: int) -> float:
        return sum(1 for r in ranks if 0 < r <= k) / len(ranks)

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result.add("ocr_pages", "pages OCR'd", ocr_pages)
    result.add(
        "ocr_pages_per_s",
        f"OCR pages/s ({cpus} CPUs, {DPI} dpi)",
        ocr_pages / ocr_seconds if ocr_seconds else 0.0,
        "pages/s",
    )
    result.add("scan_ingest_s", "image-only ingest, wall", wall, "s")
    result.add("cer_body", f"CER, body text ({body_pages} pages), spaces collapsed", cer["body"])
    result.add("cer_body_nospace", "CER, body text, whitespace removed", cer["body_nospace"])
    result.add("cer_all", f"CER, all {len(rows)} pages (tables included)", cer["all"])
    result.add("cer_all_nospace", "CER, all pages, whitespace removed", cer["all_nospace"])
    result.add("hit5_text", f"hit@5, text layer ({len(questions)} questions)", hit(text_ranks, 5))
    result.add("hit5_scans", "hit@5, image-only copies", hit(scan_ranks, 5))
    result.add("hit1_text", "hit@1, text layer", hit(text_ranks, 1))
    result.add("hit1_scans", "hit@1, image-only copies", hit(scan_ranks, 1))
    result.grids.append(Grid("CER per page (spaces collapsed)", ["page", "kind", "CER"], rows))
    result.target("cer_body", "CER on body text", cer["body"], TARGET_CER, "<=")
    result.target(
        "hit5_gap",
        "hit@5 drop, image-only vs text layer",
        hit(text_ranks, 5) - hit(scan_ranks, 5),
        TARGET_HIT5_GAP,
        "<=",
    )
    result.notes.append(
        f"subset: {len(questions)} questions (one per filing), each with its evidence page and "
        f"{AROUND} pages either side: {len(rows)} pages in each index"
    )
    return result
