"""Letter extraction on real-looking answer styles, and the parse rate on the case set (§3.3)."""

from __future__ import annotations

import time

import pytest

from routerlab.score import LetterScorer, ScoreItem, extract_letter, parse_rate
from routerlab.score.letter import gold_letter, resolve_gold

CHOICES = ("Paris", "London", "Rome", "Berlin")

# (case id, response, expected letter or None for "not parsed")
CASES: list[tuple[str, str, str | None]] = [
    ("answer_is_paren", "The answer is (C).", "C"),
    ("answer_is_bare", "The answer is C", "C"),
    ("bold_letter_only", "**C**", "C"),
    ("letter_dot", "C.", "C"),
    ("letter_only", "C", "C"),
    ("lowercase_paren", "(c)", "C"),
    ("paren_only", "(B)", "B"),
    ("boxed", "Reasoning about capitals...\n\nFinal answer: $\\boxed{C}$", "C"),
    ("boxed_text", "So we get \\boxed{\\text{(D)}}.", "D"),
    ("boxed_option_text", "The capital is \\boxed{Rome}", "C"),
    ("answer_colon", "Answer: C", "C"),
    ("bold_answer_label", "**Answer:** B", "B"),
    ("bold_answer_all", "**Answer: D**", "D"),
    ("letter_paren_because", "C) because Rome is the capital of Italy.", "C"),
    ("letter_dot_text", "B. London is the capital of the United Kingdom.", "B"),
    ("bold_letter_dot_text", "**A.** Paris\n\nParis has been the capital since 987.", "A"),
    ("option_c_think", "I think it's option C", "C"),
    ("id_go_with", "Hmm, tough one. I'd go with B.", "B"),
    ("i_choose", "After weighing the options, I choose D.", "D"),
    ("correct_answer_is", "The correct answer is B) London.", "B"),
    ("correct_option_colon", "Correct option: A", "A"),
    ("reverse_is_correct", "Option C is correct because the others are not capitals of Italy.", "C"),
    ("reverse_letter_text_correct", "(B) London is the right answer.", "B"),
    ("not_a_then_b", "Not A, the answer is B.", "B"),
    ("answer_is_not_a", "The answer is not A. It is C.", "C"),
    ("revision_last_wins", "The answer is A. Wait, let me re-check: actually the answer is B.", "B"),
    ("would_not_choose", "I would not choose A; the answer is D.", "D"),
    ("final_line_letter", "Let me think step by step.\nParis is in France.\nRome is in Italy.\n\nC", "C"),
    ("final_line_option", "Rome has been Italy's capital since 1871.\n\nOption C", "C"),
    ("final_answer_line", "Step 1: ...\nStep 2: ...\nFinal Answer: (C) Rome", "C"),
    ("answer_dash", "Answer - D", "D"),
    ("answer_would_be", "Given the clues, the answer would be C.", "C"),
    ("answer_therefore", "So the answer is therefore B.", "B"),
    ("trailing_prose", "The answer is (A). Paris is the capital of France and the largest city.", "A"),
    ("choice_text_only", "The capital of Italy is Rome.", "C"),
    ("choice_text_lower", "rome", "C"),
    ("html_bold", "<b>B</b>", "B"),
    ("fullwidth", "答案：Ｃ\n\nThe answer is （Ｃ）", "C"),
    ("think_block", "<think>Maybe A? No...</think>\nThe answer is D.", "D"),
    ("answer_choice_is", "The best answer choice is (D) Berlin.", "D"),
    ("ten_options_j", "The answer is (J).", "J"),
    ("enumeration_then_answer", "A) Paris - no\nB) London - no\nC) Rome - yes\nD) Berlin - no\n\nAnswer: C", "C"),
    ("latex_text_answer", "The final answer is $\\text{B}$.", "B"),
    ("my_answer", "My final answer: A", "A"),
    ("select_option", "Select option D.", "D"),
    ("therefore_letter", "Option A is incorrect: Paris is French. Option B is incorrect too. Therefore, C.", "C"),
    ("answer_label_newline", "Answer:\n\nB", "B"),
    ("paren_letter_is_correct_mid", "Among the options, (A) and (C) are cities; Rome (C) is correct.", "C"),
    ("single_mention", "Rome is the capital, so (C) fits best here.", "C"),
    # ---- not parseable: must not guess
    ("empty", "", None),
    ("whitespace", "   \n  ", None),
    ("refusal", "I'm sorry, but I can't help with that question.", None),
    ("truncated_mid_sentence", "Let me consider each capital. Paris is the capital of France, London is", None),
    ("enumeration_only", "A) Paris - capital of France\nB) London - capital of UK\nC) Rome\nD) Berlin", None),
    ("two_letters_no_commitment", "It could be (A) or (B), hard to say.", None),
    ("article_a_not_answer", "A good way to think about this is geography.", None),
    ("pronoun_i", "I am not sure about this one.", None),
    ("answer_is_a_word", "The answer is a matter of debate among historians", None),
    ("negated_only", "Option A is wrong.", None),
]


@pytest.mark.parametrize(("response", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_letter_extraction(response: str, expected: str | None) -> None:
    letters = "ABCDEFGHIJ" if expected == "J" else "ABCD"
    ex = extract_letter(response, letters=letters, choices=CHOICES)
    assert ex.letter == expected, (ex, response)
    assert ex.parsed is (expected is not None)


def test_case_set_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_parse_rate_on_the_case_set() -> None:
    scorer = LetterScorer()
    scores = [scorer.score(resp, ScoreItem(gold="J" if exp == "J" else "C", choices=CHOICES)) for _, resp, exp in CASES]
    rate = parse_rate(scores)
    expected = sum(1 for c in CASES if c[2] is not None) / len(CASES)
    assert rate == pytest.approx(expected)
    print(f"letter extractor parse rate on {len(CASES)} cases: {rate:.1%}")


def test_unparsed_reasons_are_specific() -> None:
    assert extract_letter("").reason == "empty"
    assert extract_letter("I cannot answer this question.").reason == "refusal"
    assert extract_letter("It could be (A) or (B).").reason == "ambiguous"
    assert extract_letter("Paris is in France and London is", choices=CHOICES).reason in {"ambiguous", "no_answer"}
    assert extract_letter("Lorem ipsum dolor sit amet.").reason == "no_answer"


def test_scorer_scores_against_gold_and_records_spec() -> None:
    scorer = LetterScorer()
    item = ScoreItem(gold="C", choices=CHOICES)
    right = scorer.score("The answer is (C).", item)
    wrong = scorer.score("The answer is (B).", item)
    none = scorer.score("no idea", item)
    assert (right.value, right.parsed, right.extracted, right.reason) == (1.0, True, "C", "correct")
    assert (wrong.value, wrong.parsed, wrong.extracted, wrong.reason) == (0.0, True, "B", "wrong")
    assert (none.value, none.parsed, none.extracted) == (0.0, False, None)
    assert right.raw is None
    assert right.spec.name == "letter" and right.detail["rule"] == "statement"


@pytest.mark.parametrize(
    ("gold", "expected"), [("C", "C"), ("(c)", "C"), ("c.", "C"), ("Rome", "C"), ("2", "C"), ("0", "A")]
)
def test_gold_letter_forms(gold: str, expected: str) -> None:
    assert gold_letter(ScoreItem(gold=gold, choices=CHOICES)) == expected


def test_gold_letter_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="not an option letter"):
        gold_letter(ScoreItem(gold="Madrid", choices=CHOICES, query_id="q7"))


def test_gold_letter_numeric_options() -> None:
    assert gold_letter(ScoreItem(gold="1", choices=("0", "1", "2", "3"))) == "B"  # index and text agree
    with pytest.raises(ValueError, match="ambiguous"):
        gold_letter(ScoreItem(gold="2", choices=("2", "4", "6", "8")))


def test_gold_letter_beyond_d_widens_letters() -> None:
    item = ScoreItem(gold="F")
    assert LetterScorer().score("The answer is F.", item).value == 1.0


@pytest.mark.parametrize(
    "response",
    [
        "option A " * 5_000,  # one mention-rich sentence: was quadratic (15 s at 36 kB)
        "A " * 20_000,
        "(A) " * 10_000,
        "C is " * 10_000,
        "\\boxed{" * 30_000,
        "<think>" * 30_000,
        "\\boxed{" * 10_000 + "}" * 10_000,
    ],
)
def test_hostile_responses_finish_quickly(response: str) -> None:
    start = time.perf_counter()
    LetterScorer().score(response, ScoreItem(gold="C", choices=CHOICES))
    assert time.perf_counter() - start < 3.0


# --- issue 11: a strange gold never raises (each case raised ValueError on letter v2)


@pytest.mark.parametrize(
    ("gold", "choices", "expected"),
    [
        ("1.0", CHOICES, "B"),  # a csv column with gaps writes the index 1 as 1.0
        ("2.0", ("0", "1", "2", "3"), "C"),  # index and text agree
        ("1", None, None),  # no choices: an index cannot be trusted under "auto"
    ],
)
def test_gold_index_forms(gold: str, choices: tuple[str, ...] | None, expected: str | None) -> None:
    assert resolve_gold(ScoreItem(gold=gold, choices=choices))[0] == expected


def test_numeric_options_index_gold_is_no_outcome_not_an_exception() -> None:
    item = ScoreItem(gold="2", choices=("8", "2", "24", "120"), query_id="abstract_algebra-1")  # MMLU's real row
    score = LetterScorer().score("The answer is C.", item)
    assert score.missing and score.reason == "ambiguous_gold" and score.parsed and score.extracted == "C"
    by_index = LetterScorer(gold_format="index")
    assert by_index.score("The answer is C.", item).value == 1.0
    assert by_index.spec.params["gold_format"] == "index" and by_index.spec.hash != LetterScorer().spec.hash
    assert LetterScorer(gold_format="text").score("The answer is B.", item).value == 1.0


@pytest.mark.parametrize(("gold", "reason"), [(None, "no_gold"), ("Madrid", "bad_gold"), ("", "bad_gold")])
def test_letter_never_raises_on_a_strange_gold(gold: str | None, reason: str) -> None:
    score = LetterScorer().score("The answer is (C).", ScoreItem(gold=gold, choices=CHOICES))
    assert score.missing and score.reason == reason and score.parsed


def test_letter_score_1_0_gold() -> None:
    assert LetterScorer().score("The answer is (B).", ScoreItem(gold="1.0", choices=CHOICES)).value == 1.0


def test_unknown_gold_format_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="gold_format"):
        LetterScorer(gold_format="ordinal")
