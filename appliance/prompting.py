"""Prompt building for grounded answers, and reading citations back out of the answer.

The model sees numbered passages and is told to answer only from them and cite them as
``[n]``. Passages are trimmed (lowest-ranked first, then the last one cut) so that the system
prompt, history, passages, question and the answer's token budget fit the context window; a
prompt never overflows. Follow-up questions are made standalone for retrieval by a simple
method that works with a tiny model: a question that leans on the conversation (pronouns,
"and ...", "what about ...", very short) is searched together with the previous question.
``STYLES`` holds the shipped layout (``default``) and the alternatives that
``python -m bench.answers_bench`` compares against it (README, "Choosing the model").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appliance.backends.base import Message
from appliance.retrieve import Hit

SYSTEM_PROMPT = (
    "You answer questions about the user's own documents. Use only the numbered passages "
    "given with the question. Cite the passages you used as [1], [2] right after the "
    "sentence they support. If the passages do not contain the answer, say that the "
    "documents do not say, and do not guess."
)
BRIEF_PROMPT = (
    "Answer the question from the numbered passages only. Reply with one or two short "
    "sentences that state the answer and cite the passage as [1]. If the passages do not "
    "contain the answer, reply that the documents do not say."
)


@dataclass(frozen=True)
class PromptStyle:
    """How passages and the question are laid out for the model.

    ``question_first`` also puts the question before the passages (small models lose it
    after a long context); ``cue`` is a last line after the question.
    """

    name: str
    system: str = SYSTEM_PROMPT
    question_first: bool = False
    cue: str = ""


STYLES: dict[str, PromptStyle] = {
    "default": PromptStyle("default"),
    "brief": PromptStyle(
        "brief", BRIEF_PROMPT, question_first=True, cue="Answer in one sentence with its citation."
    ),
}
NOT_FOUND = "I could not find anything about this in your documents."

_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|and what|why|so)\b|"
    r"\b(it|its|it's|that|this|those|these|they|them|their|he|she|his|her|there|same)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Turn:
    """One finished exchange of a conversation, and the route it took.

    ``sensitive`` remembers that the turn was judged sensitive when it was asked (its
    question, passages, file names, folder rules or an earlier turn): such a turn never goes
    to the cloud, and neither does anything after it in the same conversation.
    """

    question: str
    answer: str
    route: str = "local"
    sensitive: bool = False


def standalone_query(question: str, history: Sequence[Turn]) -> str:
    """The text to search for: the question, plus the previous one when this is a follow-up.

    >>> standalone_query("And when does it end?", [Turn("What is the lease term?", "5 years")])
    'What is the lease term? And when does it end?'
    """
    if not history:
        return question
    words = re.findall(r"\w+", question)
    if len(words) <= 4 or _FOLLOW_UP.search(question):
        return f"{history[-1].question} {question}"
    return question


def format_passage(n: int, hit: Hit, text: str | None = None) -> str:
    return f"[{n}] ({hit.where})\n{(text if text is not None else hit.text).strip()}"


def build_messages(
    question: str,
    hits: Sequence[Hit],
    history: Sequence[Turn],
    *,
    count_tokens: Callable[[str], int],
    context_length: int,
    answer_tokens: int,
    max_history: int = 3,
    style: PromptStyle = STYLES["default"],
) -> tuple[list[Message], list[Hit]]:
    """Chat messages that fit ``context_length``; also the passages that made it in.

    Passages keep their order (best first); the ones that do not fit are dropped from the end,
    and the last one that fits partly is cut at a word boundary.
    """
    overhead = 16  # chat template tokens per message, roughly
    budget = context_length - answer_tokens - count_tokens(style.system) - 3 * overhead
    budget -= count_tokens(question) * (1 + style.question_first) + count_tokens(style.cue) + 32
    turns: list[Message] = []
    for turn in list(history)[-max_history:][::-1]:
        cost = count_tokens(turn.question) + count_tokens(turn.answer) + 2 * overhead
        if cost > budget // 3:
            break
        turns[:0] = [Message("user", turn.question), Message("assistant", turn.answer)]
        budget -= cost
    passages: list[str] = []
    used: list[Hit] = []
    for hit in hits:
        n = len(used) + 1
        block = format_passage(n, hit)
        cost = count_tokens(block) + 2
        if cost <= budget:
            passages.append(block)
            used.append(hit)
            budget -= cost
            continue
        if budget > 48:  # room for a useful piece: cut the passage to fit
            words = hit.text.split()
            lo, hi = 0, len(words)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if count_tokens(format_passage(n, hit, " ".join(words[:mid]))) + 2 <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            if lo > 8:
                passages.append(format_passage(n, hit, " ".join(words[:lo]) + " …"))
                used.append(hit)
        break
    content = "Passages:\n\n" + "\n\n".join(passages) + f"\n\nQuestion: {question}"
    if style.question_first:
        content = f"Question: {question}\n\n{content}"
    if style.cue:
        content += f"\n{style.cue}"
    messages = [Message("system", style.system), *turns, Message("user", content)]
    return messages, used


def cited_numbers(answer: str, passages: int) -> list[int]:
    """Passage numbers cited in ``answer``, in order of first mention, valid ones only.

    >>> cited_numbers("Rent is due monthly [2]. Notice is 3 months [1, 2][7].", 3)
    [2, 1]
    """
    seen: list[int] = []
    for m in _CITE.finditer(answer):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if 1 <= n <= passages and n not in seen:
                seen.append(n)
    return seen
