"""The claim check (appliance.claims) and the number/name matching under it
(appliance.textmatch): unit tests on hand-made passages, and precision on a labelled set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.claims import check_claims, contains_answer
from appliance.textmatch import dates, number_in, numbers, sentences

LABELLED = Path(__file__).parent / "data" / "claims_labelled.json"

NIKE = (
    "NIKE, Inc. Revenues were $51.2 billion in fiscal 2023, up 10% compared to fiscal 2022. "
    "Gross margin decreased 250 basis points to 43.5%."
)


# -- numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("claim", "source", "same"),
    [
        ("$51.2 billion", "51.2 billion dollars", True),
        ("$51.2 billion", "$51,200 million", True),
        ("$51.2 billion", "US$51.2bn", True),
        ("1,000", "1000", True),
        ("12%", "12 per cent", True),
        ("12%", "12 percent", True),
        ("£29,250", "GBP 29,250", True),
        ("$51.2 billion", "51.2", True),  # a table's bare figure under "(in billions)"
        ("$51.2 billion", "$51.2 million", False),
        ("$51.2 billion", "£51.2 billion", False),
        ("12%", "£12", False),
        ("$3.23 billion", "$3.23", False),
        ("7 years", "kept for 35 days; a copy for 7 days", False),
    ],
)
def test_numbers_compare_by_value_kind_and_unit(claim: str, source: str, same: bool) -> None:
    (n,) = numbers(claim)
    assert number_in(n, numbers(source)) is same


def test_codes_and_dates_are_not_loose_numbers() -> None:
    assert numbers("incident INC-2024-031 on 2024-11-07") == []
    assert dates("ending on 28 February 2034") == {(28, "feb", 2034)}
    assert dates("February 28, 2034") == {(28, "feb", 2034)}


def test_sentences_keep_exact_spans_and_join_broken_pdf_lines() -> None:
    text = (
        "3. Rent and deposit\nThe annual rent is GBP 58,500, payable quarterly in advance on the "
        "usual quarter days in\ninstalments of £14,625. NIKE, Inc. Revenues rose.\n- Item two"
    )
    got = [text[a:b] for a, b in sentences(text)]
    assert got == [
        "Rent and deposit",
        "The annual rent is GBP 58,500, payable quarterly in advance on the usual quarter days"
        " in\ninstalments of £14,625.",
        "NIKE, Inc. Revenues rose.",
        "Item two",
    ]


# -- the check ----------------------------------------------------------------------------------
def test_each_sentence_gets_its_citations_and_a_verdict() -> None:
    answer = (
        "Revenues were 51.2 billion dollars in fiscal 2023. [1] Gross margin rose to 43.5% [1]. "
        "Corrected sentence: revenues were $51.2 billion."
    )
    claims = check_claims(answer, [NIKE])
    assert [(c.supported, c.citations) for c in claims] == [(True, [1]), (False, [1]), (False, [])]
    for c in claims:
        assert answer[c.start : c.end] == c.text
    assert "down" in claims[1].reason or "up" in claims[1].reason
    assert "talking to itself" in claims[2].reason
    assert claims[0].to_json() == {"text": claims[0].text, "supported": True, "citations": [1]}


def test_a_sentence_is_checked_only_against_what_it_cites() -> None:
    passages = ["The deposit is £29,250.", NIKE]
    assert check_claims("The deposit is £29,250 [1].", passages)[0].supported
    assert not check_claims("The deposit is £29,250 [2].", passages)[0].supported
    # no citation: any passage may back it, and the one that does is named
    claim = check_claims("The deposit is £29,250.", passages)[0]
    assert claim.supported and claim.citations == [1]


def test_facts_must_come_from_one_sentence_not_two_neighbours() -> None:
    lease = "The annual rent is £58,500. The Tenant pays a security deposit of £29,250."
    assert check_claims("The annual rent is £58,500 [1].", [lease])[0].supported
    assert not check_claims("The annual rent is £29,250 [1].", [lease])[0].supported


def test_the_question_may_set_the_scope_from_the_passage_title() -> None:
    page = "Quarterly Report - Q3 2024\nThe clinic delivered 9,412 patient appointments."
    answer = "The clinic delivered 9,412 patient appointments in Q3 2024."
    assert check_claims(answer, [page], "How many appointments in Q3 2024?")[0].supported
    assert not check_claims(answer, [page])[0].supported  # without the question: not stated


def test_nothing_to_check_without_passages() -> None:
    assert check_claims("I could not find anything.", []) == []
    assert check_claims("", [NIKE]) == []


@pytest.mark.parametrize(
    ("gold", "text", "found"),
    [
        ("$51.2 billion", "revenue was 51.2 billion dollars", True),
        ("£29,250", "a deposit of 29250", True),
        ("27 days", "27 days of leave", True),
        ("27 days", "27 weeks", False),
        ("Q2 2025", "planned for Q2 2025", True),
        ("changing area B", "in changing area b", True),
    ],
)
def test_contains_answer_normalises_both_sides(gold: str, text: str, found: bool) -> None:
    assert contains_answer(gold, text) is found


# -- precision on the labelled set ----------------------------------------------------------------
def _labelled() -> tuple[dict[str, str], list[dict[str, object]]]:
    data = json.loads(LABELLED.read_text(encoding="utf-8"))
    return data["passages"], data["items"]


def _precision(split: str | None) -> tuple[float, float, int]:
    passages, items = _labelled()
    tp = fp = fn = 0
    for item in items:
        if split is not None and item["split"] != split:
            continue
        texts = [passages[k] for k in item["passages"]]  # type: ignore[attr-defined]
        claims = check_claims(str(item["answer"]), texts)
        said = bool(claims) and all(c.supported for c in claims)
        tp += said and bool(item["supported"])
        fp += said and not item["supported"]
        fn += not said and bool(item["supported"])
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp + fp


def test_labelled_set_is_adversarial_and_balanced() -> None:
    _, items = _labelled()
    assert len(items) >= 70
    supported = sum(bool(i["supported"]) for i in items)
    assert 0.3 < supported / len(items) < 0.6


@pytest.mark.parametrize("split", ["dev", "heldout", None])
def test_claim_check_precision_on_supported(split: str | None) -> None:
    precision, recall, said = _precision(split)
    assert said > 5
    assert precision >= 0.9, f"precision {precision:.3f} on {split or 'all'}"
    assert recall >= 0.7, f"recall {recall:.3f} on {split or 'all'}"
