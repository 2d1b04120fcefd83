"""Metrics on small hand-checked cases; a failed parse always scores 0."""

from __future__ import annotations

import pytest

from promptopt.tasks.metrics import Accuracy, ExactMatch, NumericMatch, TokenF1, macro_f1, metric_from_name
from promptopt.tasks.records import Metric, ParsedAnswer

FAILED = ParsedAnswer.failed("no <final_answer> tag")


def ok(value: str) -> ParsedAnswer:
    return ParsedAnswer(value, True)


ALL_METRICS: list[Metric] = [Accuracy(), ExactMatch(), NumericMatch(), TokenF1()]


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: m.name)
def test_failed_parse_scores_zero(metric: Metric) -> None:
    assert isinstance(metric, Metric)
    assert metric.score(FAILED, "") == 0.0
    assert metric.score(FAILED, "positive") == 0.0
    # Even an inconsistent record (ok False but a value) is a failure.
    assert metric.score(ParsedAnswer("positive", False, "conflict"), "positive") == 0.0


def test_accuracy() -> None:
    metric = Accuracy()
    assert metric.name == "accuracy"
    assert metric.score(ok("Positive"), "positive") == 1.0
    assert metric.score(ok(" positive\n"), "POSITIVE ") == 1.0
    assert metric.score(ok("(B)"), "(B)") == 1.0
    assert metric.score(ok("negative"), "positive") == 0.0
    assert metric.score(ok("very positive"), "positive") == 0.0


def test_exact_match() -> None:
    metric = ExactMatch()
    assert metric.name == "exact_match"
    assert metric.score(ok("  New   York\n"), "New York") == 1.0
    assert metric.score(ok("new york"), "New York") == 0.0
    assert metric.score(ok("New York."), "New York") == 0.0


def test_numeric_match() -> None:
    metric = NumericMatch()
    assert metric.name == "numeric_match"
    assert metric.score(ok("1234.5"), "$1,234.50") == 1.0
    assert metric.score(ok("72"), "72.0") == 1.0
    assert metric.score(ok("-3"), "-3") == 1.0
    assert metric.score(ok("72"), "73") == 0.0
    assert metric.score(ok("seventy-two"), "72") == 0.0
    assert metric.score(ok("72"), "about 72") == 0.0
    loose = NumericMatch(tolerance=0.01)
    assert loose.score(ok("0.005"), "0") == 1.0  # absolute below 1
    assert loose.score(ok("1009"), "1000") == 1.0  # relative above 1
    assert loose.score(ok("1011"), "1000") == 0.0
    with pytest.raises(ValueError, match="tolerance"):
        NumericMatch(tolerance=-0.1)


def test_token_f1() -> None:
    metric = TokenF1()
    assert metric.name == "f1"
    assert metric.score(ok("The Eiffel Tower!"), "eiffel tower") == 1.0
    # pred {eiffel, tower, paris} vs gold {eiffel, tower}: P = 2/3, R = 1, F1 = 0.8
    assert metric.score(ok("Eiffel Tower, Paris"), "the Eiffel Tower") == pytest.approx(0.8)
    # pred {paris} vs gold {paris, france}: P = 1, R = 1/2, F1 = 2/3
    assert metric.score(ok("Paris"), "Paris, France") == pytest.approx(2 / 3)
    assert metric.score(ok("London"), "Paris") == 0.0
    # repeated tokens count once per occurrence: pred [a1, a1] vs gold [a1]: P = 1/2, R = 1
    assert metric.score(ok("x x"), "x") == pytest.approx(2 / 3)
    # nothing left after normalization on both sides counts as a match (SQuAD's convention)
    assert metric.score(ok("the"), "a") == 1.0
    assert metric.score(ok("the"), "Paris") == 0.0


def test_macro_f1_hand_computed() -> None:
    labels = ["pos", "neg", "neu"]
    targets = ["pos", "pos", "pos", "neg", "neg", "neu"]
    predictions = ["pos", "pos", "neg", "neg", None, "pos"]
    # pos: tp 2, fp 1, fn 1 -> 4/6;  neg: tp 1, fp 1, fn 1 -> 2/4;  neu: tp 0, fp 0, fn 1 -> 0
    assert macro_f1(predictions, targets, labels) == pytest.approx((4 / 6 + 2 / 4 + 0) / 3)


def test_macro_f1_edge_cases() -> None:
    assert macro_f1(["A", "b"], ["a", "B"], ["a", "b"]) == 1.0  # case-insensitive
    # a label nobody predicted and no target has is left out rather than counted as 0
    assert macro_f1(["a", "b"], ["a", "b"], ["a", "b", "c"]) == 1.0
    # a prediction outside the labels is a miss for its true class only
    assert macro_f1(["maybe", "b"], ["a", "b"], ["a", "b"]) == pytest.approx((0 + 1) / 2)
    assert macro_f1([None, None], ["a", "b"], ["a", "b"]) == 0.0
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        macro_f1(["a", "b"], ["a"], ["a", "b"])
    with pytest.raises(ValueError, match="'c'"):
        macro_f1(["a"], ["c"], ["a", "b"])
    with pytest.raises(ValueError, match="no examples"):
        macro_f1([], [], ["a"])


def test_metric_from_name() -> None:
    assert metric_from_name("accuracy") == Accuracy()
    assert metric_from_name("exact_match") == ExactMatch()
    assert metric_from_name("f1") == TokenF1()
    assert metric_from_name("numeric_match", tolerance=0.5) == NumericMatch(tolerance=0.5)
    for name in ("accuracy", "exact_match", "numeric_match", "f1"):
        assert metric_from_name(name).name == name
    with pytest.raises(ValueError, match="accuracy.*exact_match.*f1.*numeric_match"):
        metric_from_name("bleu")
    with pytest.raises(ValueError, match="tolerance"):
        metric_from_name("accuracy", tolerance=0.1)
    with pytest.raises(ValueError, match="name"):
        metric_from_name("accuracy", name="x")
