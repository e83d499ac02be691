"""Financial statements a question's figures come from, and the pages that print them.

A question about a ratio or a line item ("is 3M capital-intensive?", "has the quick ratio
improved?") is answered from an annual report's primary statements: a page of numbers under a
title such as "Consolidated Statements of Cash Flows", which shares few words with the question
and embeds poorly. General accounting says which statement holds which items: margins, growth,
tax rate and earnings come from the income statement; liquidity ratios, working capital, debt and
PP&E from the balance sheet; capital expenditures, free cash flow, D&A and dividends paid from
the cash-flow statement. ``statements_asked`` reads that from a question; ``StatementPages``
finds the chunks whose page heading (their context, ``appliance.context``) titles such a
statement, so retrieval can add them as a ranking of their own.

Left out: statements other than the three primary ones (equity, comprehensive income), and any
judgement of whether a page is the statement itself or a note that repeats its title.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from appliance.embedding import TextEmbedder
    from appliance.store import Store

Statement = Literal["income", "balance", "cash"]

TITLES: dict[Statement, re.Pattern[str]] = {
    "income": re.compile(
        r"(?:consolidated|combined)?"
        r"(?:statements?of(?:consolidated)?(?:income|operations|earnings)|incomestatements?)"
    ),
    "balance": re.compile(
        r"(?:consolidated|combined)?"
        r"(?:balancesheets?|statements?of(?:consolidated)?financial(?:position|condition))"
    ),
    "cash": re.compile(r"(?:consolidated|combined)?statements?of(?:consolidated)?cashflows?"),
}
"""How the three statements' pages are headed in annual reports (US and IFRS wording): a heading
that starts with the title, matched in lower case with its spaces taken out, since PDF text often
splits a heading's last letter off ("Consolidated Balance Shee t"). Headings that merely mention
a statement ("Supplemental Balance Sheet Information", "Off-Balance Sheet Arrangements") are
notes, not the statement."""

# A question naming a statement is answered from that one alone.
_NAMED: tuple[tuple[re.Pattern[str], Statement], ...] = (
    (re.compile(r"\bincome statements?\b|\bp&l\b|\bprofit and loss\b", re.I), "income"),
    (re.compile(r"\bstatements? of (?:income|operations|earnings)\b", re.I), "income"),
    (re.compile(r"\bbalance sheets?\b|\bstatements? of financial position\b", re.I), "balance"),
    (re.compile(r"\bcash ?flows? statements?\b|\bstatements? of cash flows?\b", re.I), "cash"),
)
# Metrics and line items, and the statements they are read from.
_METRIC_WORDS: tuple[tuple[str, tuple[Statement, ...]], ...] = (
    (r"\b(?:gross|operating|profit|net|ebitda|ebit)\s*%?\s*margins?\b", ("income",)),
    (r"\brevenues?\b|\bnet sales\b|\bsales growth\b|\btop.line\b", ("income",)),
    (r"\bgrowth (?:rate|company)\b|\bhigh.growth\b", ("income",)),
    (r"\bcost of (?:goods )?(?:sold|sales|revenues?)\b|\bcogs\b", ("income",)),
    (r"\boperating income\b|\bnet income\b|\bearnings per share\b|\beps\b", ("income",)),
    (r"\b(?:effective )?tax rate\b|\bprovision for income taxes\b", ("income",)),
    (r"\brestructuring (?:costs?|charges?)\b|\binterest expense\b", ("income",)),
    (r"\bsg&a\b|\br&d\b|\bresearch and development\b", ("income",)),
    (r"\bebitda\b", ("income", "cash")),
    (r"\binventory turnover\b|\bdays (?:sales )?(?:of )?inventory\b", ("income", "balance")),
    (r"\b(?:quick|current|acid.test|debt.to.equity|leverage) ratio\b", ("balance",)),
    (r"\bworking capital\b|\bliquidity\b", ("balance",)),
    (r"\btotal (?:assets|liabilities|debt|equity)\b|\bliabilit(?:y|ies)\b", ("balance",)),
    (r"\bdebt\b|\bborrowings\b", ("balance",)),
    (r"\bpp&?n?e\b|\bproperty,? plant,? and equipment\b", ("balance",)),
    (r"\binventor(?:y|ies)\b|\breceivables?\b|\bpayables?\b", ("balance",)),
    (
        r"\breturn on (?:assets|equity|invested capital)\b|\broa\b|\broe\b|\broic\b",
        ("income", "balance"),
    ),
    (r"\bcapital.intensi", ("income", "balance", "cash")),
    (r"\bcap(?:ital)?[ -]?ex(?:penditures?)?\b", ("cash",)),
    (r"\bfree cash ?flows?\b|\bfcf\b|\bcash (?:flow )?conversion\b", ("cash",)),
    (r"\bcash (?:generated|provided|used) (?:by|in|from)\b|\boperating cash flow", ("cash",)),
    (r"\bd&a\b|\bdepreciation\b|\bamortization\b", ("cash",)),
    (
        r"\bdividends? paid\b|\bpaid dividends\b|\b(?:share|stock) (?:re)?purchases?\b",
        ("cash",),
    ),
    (r"\bbuybacks?\b|\brepurchased?\b", ("cash",)),
)
_METRICS = tuple((re.compile(p, re.IGNORECASE), kinds) for p, kinds in _METRIC_WORDS)


def statements_asked(question: str) -> tuple[Statement, ...]:
    """The statements whose figures answer ``question``, in the order above; () for none.

    A statement the question names wins over the metrics it mentions.

    >>> statements_asked("Is 3M a capital-intensive business based on FY2022 data?")
    ('income', 'balance', 'cash')
    >>> statements_asked("Using the cash flow statement, how much did Block generate?")
    ('cash',)
    >>> statements_asked("Who are the primary customers of Boeing?")
    ()
    """
    named = {kind for pattern, kind in _NAMED if pattern.search(question)}
    found = named or {k for pattern, kinds in _METRICS if pattern.search(question) for k in kinds}
    return tuple(k for k in TITLES if k in found)


def titles_statement(context: str, kinds: Iterable[Statement]) -> bool:
    """Whether a chunk's context heads it with one of these statements' titles.

    Only the headings (the context's second line) count, each from its start: a document called
    "Balance sheet policy" does not make every page a balance sheet, nor a note headed
    "Supplemental Balance Sheet Information".

    >>> titles_statement("ACME 10-K\\nConsolidated Statements of Cash Flows", ["cash"])
    True
    >>> titles_statement("ACME 10-K\\nRisk Factors", ["cash", "income"])
    False
    """
    headings = context.split("\n", 1)[1] if "\n" in context else ""
    for heading in headings.split("›"):
        squashed = "".join(heading.lower().split())
        if squashed and any(TITLES[k].match(squashed) for k in kinds):
            return True
    return False


STATEMENT_WEIGHT = 3.0
"""Weight of the statement pages' ranking in the fusion, beside dense and lexical (1.0 each).
On annual reports (``bench.devset_bench``) 3 beat 1, 2, 4 and 6 on MRR; the ranking only ever
holds pages of the statements a question asks about."""


class StatementPages:
    """The chunks of an index that sit under each statement's title, kept per generation.

    ``ranking`` turns a question into a ranking of its own for reciprocal-rank fusion: the
    chunks under the statements it asks about, within the documents it names (or, naming none,
    among the candidates already found), by the question's similarity to them (a table of
    numbers is rarely close to a question, but the right statement's rows are closer than the
    others'). The question's vector is the one dense search made (``Embedder`` keeps its last
    single text's vector); the chunks under each title are found once per index generation (one
    pass over the contexts) and their vectors read once.
    """

    def __init__(self, store: Store, embedder: TextEmbedder) -> None:
        self.store = store
        self.embedder = embedder
        self._by_kind: tuple[int, dict[Statement, set[int]]] | None = None
        self._vectors: dict[int, np.ndarray] = {}

    def chunks(self, kind: Statement) -> set[int]:
        gen = self.store.generation
        if self._by_kind is None or self._by_kind[0] != gen:
            found: dict[Statement, set[int]] = {k: set() for k in TITLES}
            # Only contexts with a headings line can title a statement.
            for cid, context in self.store.headed_contexts():
                for k in TITLES:
                    if titles_statement(context, (k,)):
                        found[k].add(cid)
            self._by_kind = (gen, found)
            self._vectors.clear()
        return self._by_kind[1][kind]

    def similarity(self, question: str, ids: set[int]) -> dict[int, float]:
        """Cosine similarity of the (expanded) question to each chunk's stored vector."""
        from appliance.retrieve import expand_query

        self._vectors.update(self.store.chunk_vectors(c for c in ids if c not in self._vectors))
        have = [c for c in ids if c in self._vectors]
        if not have:
            return {}
        qvec = self.embedder.encode([expand_query(question)])[0]
        scores = np.vstack([self._vectors[c] for c in have]) @ qvec
        return dict(zip(have, scores.tolist(), strict=True))

    def ranking(
        self,
        question: str,
        fused: dict[int, float],
        scoped: set[int],
        allowed: set[int] | None = None,
    ) -> list[int]:
        """Chunk ids under the statements ``question`` asks about, most similar first."""
        kinds = statements_asked(question)
        if not kinds:
            return []
        pool: set[int] = set().union(*(self.chunks(k) for k in kinds))
        pool &= scoped if scoped else fused.keys()
        if allowed is not None:
            pool &= allowed
        score = self.similarity(question, pool)
        return sorted(pool, key=lambda c: (-score.get(c, -1.0), c))

    def add(
        self,
        fused: dict[int, float],
        question: str,
        scoped: set[int],
        allowed: set[int] | None,
        rrf_k: int,
    ) -> None:
        """Fuse the statement ranking into ``fused`` (chunk id → score) in place."""
        for rank, cid in enumerate(self.ranking(question, fused, scoped, allowed), 1):
            fused[cid] = fused.get(cid, 0.0) + STATEMENT_WEIGHT / (rrf_k + rank)
