"""Hybrid retrieval: dense (FAISS) and lexical (SQLite FTS5 bm25), fused by reciprocal rank.

``Retriever.search(query, k)`` returns ``Hit``s with file, page, character span, text, the
fused score and each method's score and rank. Any query text is safe for lexical search: it is
reduced to quoted word terms joined by OR, so FTS5 syntax (quotes, ``*``, ``-``, ``:``,
parentheses, ``NEAR``) is never interpreted. An optional path glob filters both methods. A
local cross-encoder re-ranks the fused candidates when ``retrieval.reranker_dir`` is set (none
is bundled). Only complete files are ever searched (see ``appliance.store``).

Long documents with many look-alike pages (annual reports: every one has a cash-flow statement)
need more than passage similarity, so four things are added around the two methods:

- bm25 indexes each chunk's document context (title, company, headings; ``appliance.context``)
  in a column of its own, and the lexical query spells out common financial abbreviations
  ("capex" also searches "capital expenditures", "FY21" also "2021");
- a question that names a document (a word of its file name, title or company that only a few
  documents carry: "3M", "Pepsico"; a short form of the company's name written as one: "JnJ",
  "AmEx", "P&G"; the trading symbol its cover page states) adds dense and lexical rankings
  restricted to those documents to the fusion, so their passages come first without hiding
  the rest;
- a question about a ratio or line item adds a ranking of the pages titled with the financial
  statement that holds it (``appliance.statements``), within the documents it names;
- pages are ranked by their best passages combined (the evidence is a page), and the best
  passage of each page comes before a second one from the same page.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from appliance.config import Settings
from appliance.context import cover_ticker, path_words
from appliance.embedding import Embedder, TextEmbedder
from appliance.errors import ModelError
from appliance.statements import StatementPages
from appliance.store import ChunkRecord, OfChunk, Store
from appliance.vectors import BEHIND, VectorIndex

Method = Literal["dense", "lexical", "hybrid"]
_log = logging.getLogger("appliance.retrieve")

_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its me my of on "
    "or our that the their them there these they this to was we were what when where which who "
    "why will with you your".split()
)
# Words that frame a question rather than say what it is about; they are rare in documents,
# so bm25 would weigh them heavily and match passages that merely use them.
_QUESTION_WORDS = frozenset(
    "answer answers question questions following assume please give provide explain describe "
    "tell show shown state using use used based rely relying detail details information "
    "response respond would should could can may might like if then whether something".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)
_ALNUM = re.compile(r"[^\W\d_]+|\d+")
# Short forms of company names ("AmEx", "JnJ", "P&G", "GE", a ticker): a question's word counts
# as one only when it is written like an abbreviation (two capitals or more, or an "&"), and is
# not one of the abbreviations financial questions use for other things.
_DIGIT = re.compile(r"\d")  # short forms and symbols are letters ("FY2022" is none)
_SHORT_TOKEN = re.compile(r"[^\W_]+(?:&[^\W_]+)*")
_LETTER_AND_LETTER = re.compile(r"\b([A-Z])\s*(?:&|and)\s*([A-Z])\b")  # "J and J", "P & G"
_NOT_SHORT_NAMES = frozenset(
    "us usa uk eu usd eur gbp jpy cny eps fy ytd yoy qoq ttm ltm ceo cfo coo cto gaap ifrs sec "
    "ppe pp&e ppne cogs sga sg&a g&a r&d m&a d&a p&l s&p o&m e&p q&a roa roe roi roic roce ebit "
    "ebitda capex opex fcf dpo dso dio ccc ocf nol nii nim aum arpu cagr etr wc lifo fifo bps "
    "esg ipo lbo adr sku api ai it hr ip ok id pdf faq q1 q2 q3 q4 h1 h2 ii iii iv".split()
)
# Words of a document line that are no part of a company's name.
_NOT_NAME_PARTS = frozenset(
    "company companies co corp corporation inc incorporated plc ltd limited llc lp llp group "
    "holdings holding sa ag nv se the form filed annual report quarterly united states "
    "securities exchange commission fiscal year fy".split()
)

# Financial abbreviations and the words reports use for them (lexical query only).
_SYNONYMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), words)
    for pattern, words in (
        (r"\bcap(?:ital)?[ -]?ex(?:penditures?)?\b", "capital expenditures purchases property"),
        (r"\bpp&?n?e\b", "property plant equipment"),
        (r"\bd&a\b", "depreciation amortization"),
        (r"\bsg&a\b", "selling general administrative"),
        (r"\br&d\b", "research development"),
        (r"\bcogs\b", "cost of sales goods sold"),
        (r"\beps\b", "earnings per share"),
        (r"\bebitda\b", "operating income depreciation amortization"),
        (r"\bfcf\b|\bfree cash ?flow\b", "cash provided by operating activities capital"),
        (r"\bopex\b", "operating expenses"),
        (r"\bm&a\b", "acquisitions divestitures"),
        (r"\byoy\b", "year over year"),
        # Ratios and judgements, as the line items they are computed from and the statements
        # that print them.
        (r"\boperating (?:profit )?margin", "operating income revenues net sales"),
        (r"\bgross (?:profit )?margin", "gross profit cost of sales revenues"),
        (r"\b(?:net|profit) margin", "net income revenues"),
        (r"\bquick ratio|\bacid.test", "cash receivables total current assets liabilities"),
        (r"\bcurrent ratio|\bworking capital|\bliquidity", "total current assets liabilities"),
        (r"\bcapital.intensi", "purchases property plant equipment total assets"),
        (r"\btax rate", "effective tax rate provision for income taxes"),
        (r"\binventory turnover", "inventories cost of sales"),
        (r"\bbalance sheet", "consolidated balance sheets total assets liabilities"),
        (r"\bincome statement|\bp&l\b", "consolidated statements of income operations"),
        (r"\bcash ?flow statement", "consolidated statements of cash flows"),
        (r"\blegal (?:battle|proceeding|matter)|\blitigation|\blawsuit", "legal proceedings"),
    )
)
SCOPED_DEPTH = 200
"""Lexical hits read to find the best ones in the documents a question names."""
PAGE_DECAY = 0.0
"""Weight of a page's second-best passage in its score (its third: the square). Measured on
short files, summing hurts: every page's passages are candidates there, so long pages win."""
# "FY2018", "FY 18", "fiscal 2018": the year as reports print it.
_FISCAL_YEAR = re.compile(r"\b(?:fy|fiscal(?: year)?)\s?'?(\d{4}|\d{2})\b", re.IGNORECASE)


def expand_query(text: str) -> str:
    """The question with report wording added for abbreviations and fiscal years.

    >>> expand_query("FY21 capex")
    'FY21 capex 2021 capital expenditures purchases property'
    """
    extra: list[str] = []
    for m in _FISCAL_YEAR.finditer(text):
        year = m.group(1)
        extra.append(year if len(year) == 4 else "20" + year)
    extra += [words for pattern, words in _SYNONYMS if pattern.search(text)]
    return " ".join([text, *extra])


@dataclass
class Hit(OfChunk):
    """A retrieved chunk: its stored ``record`` (fields read through) and how it scored
    (fused, and per method)."""

    record: ChunkRecord
    score: float
    dense: float | None = None
    lexical: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None
    rerank: float | None = None


def fts_query(text: str, max_terms: int = 32) -> str | None:
    """A safe FTS5 query: every word quoted, OR-ed; None when nothing searchable is left.

    >>> fts_query('lease "notice" NEAR(term) -x* in FY2018')
    '"lease" OR "notice" OR "near" OR "term" OR "x" OR "fy2018" OR "fy" OR "2018"'
    """
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or word in _QUESTION_WORDS:
            continue
        pieces = _ALNUM.findall(word)
        # "fy2018" also searches "2018"; "q3" also "3" is too short to help, so keep ≥ 2 chars
        for term in [word, *(p for p in pieces if len(pieces) > 1 and len(p) > 1)]:
            if term not in terms:
                terms.append(term)
    if not terms:
        terms = list(dict.fromkeys(w for w in _WORD.findall(text.lower())))
    if not terms:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:max_terms])


class Retriever:
    """Searches one index; holds the store, the vector index and the embedder."""

    expand_queries = True
    """Add report wording to the lexical query (``expand_query``); benchmarks turn it off."""
    expand_dense = True
    """Embed the expanded question too (on annual reports dense hit@5 rose from 0.35 to 0.48)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.settings = settings
        self.embedder: TextEmbedder = embedder or Embedder(
            settings.embedding.model_dir, settings.embedding.device
        )
        self.store = store or Store.open(settings.index_dir, embedding_model=self.embedder.model_id)
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1
        self.warnings: list[str] = []
        self._reranker: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lexical")
        self._names: tuple[int, int, dict[str, set[int]], dict[str, set[int]]] | None = None
        self._file_chunks: dict[frozenset[int], set[int]] = {}
        self.statements = StatementPages(self.store, self.embedder)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.store.close()

    @property
    def vectors(self) -> VectorIndex:
        gen = self.store.generation
        if self._vectors is None or gen != self._vectors_generation:
            # A reader never writes the index: a missing, damaged or stale vector file (a writer
            # mid-run or crashed) is rebuilt from SQLite's truth in memory only; only an ingest,
            # under the writer lock, rewrites it.
            self._vectors, problem = VectorIndex.load_checked(self.store)
            self._vectors_generation = gen
            if problem is not None:
                self._warn_vectors(problem)
        return self._vectors

    def _warn_vectors(self, problem: str) -> None:
        """Tell the user once (stderr, via logging; also kept in ``warnings``)."""
        message = (
            f"the vector file in {self.store.index_dir} is {problem}: searching with vectors "
            "rebuilt in memory (slower); run `appliance ingest` on your folders to repair it"
        )
        if problem == BEHIND:
            message += " (unless an ingest is running now)"
        if message not in self.warnings:
            self.warnings.append(message)
            _log.warning("appliance: warning: %s", message)

    # -- filters -----------------------------------------------------------------------------
    def allowed_ids(self, path_glob: str | None) -> set[int] | None:
        if not path_glob:
            return None
        return self.store.chunk_ids_matching(path_glob)

    # -- the two methods ---------------------------------------------------------------------
    def dense(self, query: str, n: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        if allowed is not None and not allowed:
            return []
        vindex = self.vectors
        if vindex.ntotal == 0:
            return []
        with _one_thread():
            return vindex.search(self.embedder.encode([query])[0], n, allowed)

    def lexical(
        self, query: str, n: int, allowed: set[int] | None = None
    ) -> list[tuple[int, float]]:
        match = fts_query(expand_query(query) if self.expand_queries else query)
        if match is None or (allowed is not None and not allowed):
            return []
        # FTS5 keeps only its best rows, some of them chunks of incomplete files: a few extra
        # rows cover those.
        limit = n + 16 if allowed is None else max(n * 20, 1000)
        weight = float(self.settings.retrieval.context_weight)
        rows = self.store.bm25(match, limit, weight)
        out = [hit for hit in rows if allowed is None or hit[0] in allowed]
        return out[:n]

    # -- documents a question names ------------------------------------------------------------
    def named_files(self, query: str) -> set[int]:
        """Files the question names by a word of their path, title or company that few carry,
        or by a short form of their company's name (``short_forms``) or its trading symbol.

        A word counts when at most a third of the files (at least one) carry it, so "company"
        or "10k" in every annual report's name does not; numbers (years) only add to a file
        that a word already named. A short form counts only when the question writes it like
        one ("AmEx", "JNJ", "P&G"; see ``short_words``). The files scoring at least half the best
        score are returned.
        """
        gen = self.store.generation
        if self._names is None or self._names[0] != gen:
            postings: dict[str, set[int]] = {}
            short: dict[str, set[int]] = {}
            contexts = self.store.file_contexts()
            tickers = self._tickers(len(contexts))
            for fid, text in contexts.items():
                for w in _name_words(text):
                    postings.setdefault(w, set()).add(fid)
                forms = short_forms(text)
                if fid in tickers:
                    forms.add(tickers[fid].lower())
                for w in forms:
                    short.setdefault(w, set()).add(fid)
            self._names = (gen, len(contexts), postings, short)
            self._file_chunks.clear()
        _, files, postings, short = self._names
        if files < 2:
            return set()
        limit = max(1, files // 3)
        asked = [w for w in _name_words(expand_query(query)) if w in postings]
        asked_short = [w for w in short_words(query) if w in short and w not in asked]
        scores: dict[int, float] = {}
        for w in asked:
            if not w.isdigit() and len(postings[w]) <= limit:
                for fid in postings[w]:
                    scores[fid] = scores.get(fid, 0.0) + 1.0 / len(postings[w])
        for w in asked_short:
            if len(short[w]) <= limit:
                for fid in short[w]:
                    scores[fid] = scores.get(fid, 0.0) + 1.0 / len(short[w])
        for w in asked:
            if w.isdigit():
                for fid in postings[w] & scores.keys():
                    scores[fid] += 0.5
        if not scores:
            return set()
        best = max(scores.values())
        return {fid for fid, s in scores.items() if s >= best / 2}

    def _tickers(self, files: int) -> dict[int, str]:
        """``{file id: trading symbol}`` of the files whose cover page states one: only the
        chunks that bm25 finds "trading symbol" in are read (with the chunk after each, where a
        table's row may continue), so an index of other documents costs one FTS5 query."""
        found = self.store.bm25('"trading symbol" OR "trading symbols"', 3 * files + 16, 0.0)
        ids = sorted({i for cid, _ in found for i in (cid, cid + 1)})
        records = self.store.chunk_records(ids)
        texts: dict[int, list[str]] = {}
        for cid in ids:  # in id order: a file's chunks in reading order
            if cid in records:
                texts.setdefault(records[cid].file_id, []).append(records[cid].text)
        tickers = {fid: cover_ticker("\n".join(parts)) for fid, parts in texts.items()}
        return {fid: t for fid, t in tickers.items() if t}

    def chunks_of(self, file_ids: set[int]) -> set[int]:
        key = frozenset(file_ids)
        if key not in self._file_chunks:
            if len(self._file_chunks) > 64:
                self._file_chunks.clear()
            self._file_chunks[key] = self.store.file_chunk_ids(file_ids)
        return self._file_chunks[key]

    # -- fused -------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        path_glob: str | None = None,
        method: Method = "hybrid",
    ) -> list[Hit]:
        cfg = self.settings.retrieval
        k = k or cfg.k
        n = max(cfg.candidates, k)
        allowed = self.allowed_ids(path_glob)
        named = self.named_files(query) if cfg.scope_weight > 0 else set()
        scoped = self.chunks_of(named) if named else set()
        if allowed is not None:
            scoped = scoped & allowed  # a new set: the cached one stays whole
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        runs: list[tuple[float, list[tuple[int, float]]]] = []
        if method == "dense":
            dense, dense_named = self._dense_runs(query, n, allowed, scoped)
            runs = [(1.0, dense), (cfg.scope_weight, dense_named)]
        elif method == "lexical":
            lexical, lex_named = self._lexical_runs(query, n, allowed, scoped)
            runs = [(1.0, lexical), (cfg.scope_weight, lex_named)]
        else:
            # bm25 is precise at its top (names, codes, exact phrases) and noisy below: only
            # its best ``lexical_candidates`` join the fusion. SQLite runs it in a thread while
            # the query is embedded and FAISS searched (both release the GIL).
            _ = self.vectors  # refreshed here: the thread below uses the connection
            lex_n = max(cfg.lexical_candidates, 1)

            pending = self._pool.submit(self._lexical_runs, query, lex_n, allowed, scoped)
            try:
                dense, dense_named = self._dense_runs(query, n, allowed, scoped)
            finally:
                lexical, lex_named = pending.result()
            runs = [
                (cfg.dense_weight, dense),
                (cfg.lexical_weight, lexical),
                (cfg.dense_weight * cfg.scope_weight, dense_named),
                (cfg.lexical_weight * cfg.scope_weight, lex_named),
            ]
        fused: dict[int, float] = {}
        for weight, ranked in runs:
            for rank, (cid, _) in enumerate(ranked, 1):
                fused[cid] = fused.get(cid, 0.0) + weight / (cfg.rrf_k + rank)
        if method == "hybrid":
            self.statements.add(fused, query, scoped, allowed, cfg.rrf_k)
        order = sorted(fused, key=lambda c: -fused[c])
        rerank = self.settings.retrieval.reranker_dir is not None and method == "hybrid"
        want = max(k * 4, 20) if rerank else k
        if cfg.page_scoring:
            order = order[: max(want * 8, 60)]
            where = self.store.chunk_pages(order)
            order = page_order([c for c in order if c in where], fused, where)
        order = order[:want]
        records = self.store.chunk_records(order)
        dense_info = {cid: (rank, s) for rank, (cid, s) in enumerate(dense, 1)}
        lex_info = {cid: (rank, s) for rank, (cid, s) in enumerate(lexical, 1)}
        hits = [
            _hit(records[cid], fused[cid], dense_info.get(cid), lex_info.get(cid))
            for cid in order
            if cid in records
        ]
        if rerank:
            hits = self.rerank(query, hits)[:k]
        return hits

    def _lexical_runs(
        self, query: str, n: int, allowed: set[int] | None, scoped: set[int]
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Lexical hits overall and within ``scoped`` chunks (empty when none), one query.

        The scoped list is read from a deeper overall ranking: FTS5 scores every matching row
        either way, while a rowid filter inside the MATCH makes it test the rows one by one.
        """
        if not scoped:
            return self.lexical(query, n, allowed), []
        deep = self.lexical(query, max(n, SCOPED_DEPTH), allowed)
        return deep[:n], [hit for hit in deep if hit[0] in scoped][:n]

    def _dense_runs(
        self, query: str, n: int, allowed: set[int] | None, scoped: set[int]
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Dense hits overall and within ``scoped`` chunks (empty when none), one embedding."""
        vindex = self.vectors
        if vindex.ntotal == 0 or (allowed is not None and not allowed):
            return [], []
        if self.expand_dense and self.expand_queries:
            query = expand_query(query)
        with _one_thread():
            qvec = self.embedder.encode([query])[0]
            overall = vindex.search(qvec, n, allowed)
            named = vindex.search(qvec, n, scoped) if scoped else []
        return overall, named

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """Order hits by a local cross-encoder's scores."""
        if not hits:
            return []
        if self._reranker is None:
            from appliance.offline import ensure_offline

            ensure_offline()
            from sentence_transformers import CrossEncoder

            path = self.settings.retrieval.reranker_dir
            try:
                self._reranker = CrossEncoder(str(path), local_files_only=True)
            except Exception as exc:
                raise ModelError(f"cannot load the reranker from {path}: {exc}") from None
        scores = self._reranker.predict([(query, h.text) for h in hits])
        for h, s in zip(hits, scores, strict=True):
            h.rerank = float(s)
        return sorted(hits, key=lambda h: -(h.rerank or 0.0))


_THREADS = threading.Lock()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run one query's embedding and FAISS search on a single thread.

    The work is too small to split: on a busy machine, waiting for a second thread to be
    scheduled cost up to 0.5 s per query, and it competes with the lexical query running
    beside it (measured at 100k chunks: hybrid p95 67 ms with two threads, 34 ms with one).
    """
    import faiss
    import torch

    with _THREADS:
        before = torch.get_num_threads(), faiss.omp_get_max_threads()
        torch.set_num_threads(1)
        faiss.omp_set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before[0])
            faiss.omp_set_num_threads(before[1])


def _name_words(text: str) -> set[str]:
    """Lower-case words (two characters or more) and the numbers inside them, for naming
    documents. Letters cut from a number ("fy" of "FY22") are not words of their own.

    >>> sorted(_name_words("3M_2018_10K.pdf: FY2018"))
    ['10', '10k', '2018', '3m', 'fy2018', 'pdf']
    """
    words: set[str] = set()
    for word in _WORD.findall(text.lower().replace("_", " ")):
        if word in _STOPWORDS or word in _QUESTION_WORDS:
            continue
        pieces = [p for p in _ALNUM.findall(word) if p.isdigit()]
        words.update(w for w in [word, *pieces] if len(w) > 1)
    return words


def short_forms(context: str) -> set[str]:
    """Short forms of the company names in a file's context (path and document line), lower
    case: the initials of a name of two to four words ("Johnson & Johnson": ``jj``, ``j&j``,
    ``jnj``), blends of two words' starts ("American Express": ``amex``), and initials with
    "of" ("Bank of America": ``bofa``). Corporate and filing words ("Inc", "Form") are no part
    of a name; a one-word name has no short form here (its word names it already).

    >>> sorted(short_forms("reports/AMEX_2022.pdf\\nAmerican Express Company"))
    ['a&e', 'ae', 'ame', 'amee', 'ameex', 'ameexp', 'amex', 'amexp', 'ane']
    >>> "bofa" in short_forms("BofA.pdf\\nBank of America Corporation")
    True
    """
    forms: set[str] = set()
    lines = context.split("\n", 1)
    path = path_words(lines[0]).split(" › ")[-1]
    parts = [path, *(lines[1].split(" · ") if len(lines) > 1 else [])]
    for part in parts:
        tokens = [
            w
            for w in re.findall(r"[^\W\d_]+", part.lower())
            if len(w) > 1 and w not in _NOT_NAME_PARTS
        ]
        while tokens and tokens[-1] in ("of", "and"):
            tokens.pop()
        if "of" in tokens[1:]:
            forms.add("".join(w if w == "of" else w[0] for w in tokens if w != "and"))
        words = [w for w in tokens if w not in _STOPWORDS]
        if not 2 <= len(words) <= 4:
            continue
        forms.add("".join(w[0] for w in words))
        if len(words) == 2:
            a, b = words
            forms.update({f"{a[0]}&{b[0]}", f"{a[0]}n{b[0]}"})
            forms.update(a[:i] + b[:j] for i in (2, 3) for j in (1, 2, 3))
    return forms


def short_words(question: str) -> list[str]:
    """The question's words written as short forms or symbols, lower case: two capitals or
    more (in a question not all in capitals), or an "&" ("AmEx", "JnJ", "JNJ", "P&G", "J and
    J", "GE"), and not an abbreviation questions use for other things ("EPS", "R&D", "US").

    >>> short_words("Did AmEx, J and J or the US raise EPS? Ask P&G, not Pepsi.")
    ['amex', 'j&j', 'p&g']
    >>> short_words("DID AMEX OR P&G RAISE THE DIVIDEND?")  # shouted: only the "&" tells
    ['p&g']
    """
    text = _LETTER_AND_LETTER.sub(r"\1&\2", question)
    shouted = not any(c.islower() for c in text)  # capitals throughout tell nothing
    out: list[str] = []
    for token in _SHORT_TOKEN.findall(text):
        low = token.lower()
        if "&" not in token and (shouted or sum(c.isupper() for c in token) < 2):
            continue
        if low in _NOT_SHORT_NAMES or low in _STOPWORDS or low in out or _DIGIT.search(low):
            continue
        out.append(low)
    return out


def page_order(
    order: list[int],
    fused: dict[int, float],
    where: dict[int, tuple[int, int | None]],
    decay: float | None = None,
) -> list[int]:
    """Chunks by page (``where``: chunk id → file id, page): pages ranked by their best fused
    score plus ``decay`` times the second and ``decay``² times the third, the best chunk of
    every page first, then the others in fused order. Chunks without a page stand alone.

    >>> where = {1: (1, 1), 2: (1, 2), 3: (1, 2), 4: (1, 1)}
    >>> page_order([1, 2, 3, 4], {1: 0.03, 2: 0.025, 3: 0.02, 4: 0.01}, where, 0.5)
    [2, 1, 3, 4]
    >>> page_order([1, 2, 3, 4], {1: 0.03, 2: 0.025, 3: 0.02, 4: 0.01}, where, 0.0)
    [1, 2, 3, 4]
    """
    decay = PAGE_DECAY if decay is None else decay
    pages: dict[tuple[int, int], list[int]] = {}
    for cid in order:
        file_id, page = where[cid]
        key = (file_id, page) if page is not None else (file_id, -cid)
        pages.setdefault(key, []).append(cid)

    def score(cids: list[int]) -> float:
        top = sorted((fused[c] for c in cids), reverse=True)[:3]
        return sum(s * decay**i for i, s in enumerate(top))

    ranked = sorted(pages.values(), key=lambda cids: -score(cids))
    first = [cids[0] for cids in ranked]
    chosen = set(first)
    return first + [c for c in order if c not in chosen]


def _hit(
    rec: ChunkRecord,
    score: float,
    dense: tuple[int, float] | None,
    lexical: tuple[int, float] | None,
) -> Hit:
    return Hit(
        rec,
        score,
        dense=dense[1] if dense else None,
        dense_rank=dense[0] if dense else None,
        lexical=lexical[1] if lexical else None,
        lexical_rank=lexical[0] if lexical else None,
    )
