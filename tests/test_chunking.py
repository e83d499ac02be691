"""Chunker: spans are exact, sizes bounded, overlap present, pages never crossed."""

from __future__ import annotations

import itertools

import pytest

from appliance.chunking import Chunker, WordCounter
from appliance.loaders.base import Section


def _text(paragraphs: int, sentences: int = 6, words: int = 9) -> str:
    paras = []
    for p in range(paragraphs):
        sents = [
            " ".join(f"w{p}_{s}_{w}" for w in range(words)).capitalize() + "."
            for s in range(sentences)
        ]
        paras.append(" ".join(sents))
    return "\n\n".join(paras)


@pytest.mark.parametrize("size,overlap", [(20, 0), (32, 8), (64, 16), (200, 40)])
def test_spans_match_text_and_respect_size(size: int, overlap: int) -> None:
    text = _text(8)
    section = Section(page=3, start=100, text=text)
    chunks = list(Chunker(WordCounter(), size, overlap).chunk(section))
    assert chunks
    for c in chunks:
        assert c.page == 3
        assert text[c.start - 100 : c.end - 100] == c.text
        assert c.tokens <= size
        assert c.text == c.text.strip()
    # every word is covered by some chunk
    covered = set()
    for c in chunks:
        covered.update(c.text.split())
    assert covered == set(text.split())


def test_overlap_repeats_trailing_sentences() -> None:
    chunks = list(Chunker(WordCounter(), 30, 12).chunk(Section(None, 0, _text(1, 12, 9))))
    assert len(chunks) > 2
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "neighbouring chunks should share a sentence"


def test_long_unpunctuated_run_is_cut_into_windows() -> None:
    text = " ".join(f"cell{i}" for i in range(1000))
    chunks = list(Chunker(WordCounter(), 50, 0).chunk(Section(None, 0, text)))
    assert all(c.tokens <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_blank_section_gives_nothing() -> None:
    assert list(Chunker(WordCounter(), 50, 10).chunk(Section(1, 0, "  \n\n \t"))) == []


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError):
        Chunker(WordCounter(), 10, 10)


def test_run_on_text_is_never_cut_inside_a_word_with_the_real_tokenizer() -> None:
    """Long text without punctuation (a table row dump, an OCR'd form) is cut into token
    windows; with the embedder's word-piece tokenizer a window may end mid-word, which would
    split a card number or an IBAN between two chunks. Cuts land on spaces instead."""
    from appliance.chunking import HFTokenCounter
    from appliance.embedding import default_model_dir

    counter = HFTokenCounter(default_model_dir())
    words = [
        "Interdepartmental", "reconciliation", "GB82WEST12345698765432", "4111111111111111",
        "unbelievably", "counterintuitive", "acknowledgements", "photosynthesis",
    ]  # fmt: skip
    text = " ".join(itertools.islice(itertools.cycle(words), 600))
    chunks = list(Chunker(counter, 64, 0).chunk(Section(None, 0, text)))
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.start == 0 or text[c.start - 1] == " ", text[c.start - 5 : c.start + 5]
        assert c.end == len(text) or text[c.end] == " ", text[c.end - 5 : c.end + 5]
        assert len(counter.offsets(c.text)) <= 64
