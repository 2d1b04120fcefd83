"""Metrics: score one parsed prediction against its target, in [0, 1].

A failed parse scores 0 under every metric (``Task.score`` guards this too; the metrics do it
themselves so they are safe to use alone). ``macro_f1`` is the one aggregate: it is not a mean of
per-example scores, so it takes whole prediction and target lists.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Sequence

from promptopt.tasks.parsers import normalize_number
from promptopt.tasks.records import Metric, ParsedAnswer

__all__ = ["Accuracy", "ExactMatch", "NumericMatch", "TokenF1", "macro_f1", "metric_from_name"]


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class Accuracy:
    """1 when prediction and target are equal ignoring case and surrounding/inner spacing."""

    name: str = field(default="accuracy", init=False)

    def score(self, prediction: ParsedAnswer, target: str) -> float:
        if not prediction.ok or prediction.value is None:
            return 0.0
        return float(_norm(prediction.value) == _norm(target))


@dataclass(frozen=True)
class ExactMatch:
    """1 when equal after stripping and collapsing whitespace; case matters."""

    name: str = field(default="exact_match", init=False)

    def score(self, prediction: ParsedAnswer, target: str) -> float:
        if not prediction.ok or prediction.value is None:
            return 0.0
        return float(" ".join(prediction.value.split()) == " ".join(target.split()))


@dataclass(frozen=True)
class NumericMatch:
    """1 when both are numbers within ``tolerance`` relative to the target (absolute below 1).

    Numbers are read as ``NumberParser`` writes them ("$1,234.50" is 1234.5); anything that is not
    a single number scores 0.
    """

    tolerance: float = 1e-6
    name: str = field(default="numeric_match", init=False)

    def __post_init__(self) -> None:
        tol = self.tolerance
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0 or tol == float("inf"):
            raise ValueError(f"tolerance: expected a finite number >= 0, got {tol!r}")

    def score(self, prediction: ParsedAnswer, target: str) -> float:
        if not prediction.ok or prediction.value is None:
            return 0.0
        a, b = normalize_number(prediction.value), normalize_number(target)
        if a is None or b is None:
            return 0.0
        x, y = float(a), float(b)
        return float(abs(x - y) <= self.tolerance * max(1.0, abs(y)))


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def _f1_tokens(text: str) -> list[str]:
    """SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split()


@dataclass(frozen=True)
class TokenF1:
    """SQuAD-style token-overlap F1, for free-text answers where partial credit is fair."""

    name: str = field(default="f1", init=False)

    def score(self, prediction: ParsedAnswer, target: str) -> float:
        if not prediction.ok or prediction.value is None:
            return 0.0
        pred, gold = _f1_tokens(prediction.value), _f1_tokens(target)
        if not pred or not gold:
            return float(pred == gold)
        common = sum((Counter(pred) & Counter(gold)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(pred), common / len(gold)
        return 2 * precision * recall / (precision + recall)


def macro_f1(predictions: Sequence[str | None], targets: Sequence[str], labels: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over ``labels`` (compared ignoring case and spacing).

    A None (failed) prediction or one outside ``labels`` is a miss for its true class and a false
    positive for no class. Labels absent from both targets and predictions have no defined F1 and
    are left out of the mean (scikit-learn would count them as 0).
    """
    if len(predictions) != len(targets):
        raise ValueError(f"macro_f1: {len(predictions)} predictions but {len(targets)} targets")
    if not targets:
        raise ValueError("macro_f1: no examples")
    if not labels:
        raise ValueError("macro_f1: no labels")
    keys = [_norm(label) for label in labels]
    golds = [_norm(target) for target in targets]
    unknown = sorted(set(golds) - set(keys))
    if unknown:
        raise ValueError(f"macro_f1: target(s) {unknown} are not among the labels {list(labels)}")
    preds = [None if p is None else _norm(p) for p in predictions]
    f1s: list[float] = []
    for key in dict.fromkeys(keys):
        tp = sum(p == key and g == key for p, g in zip(preds, golds))
        fp = sum(p == key and g != key for p, g in zip(preds, golds))
        fn = sum(p != key and g == key for p, g in zip(preds, golds))
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s)


_METRICS: dict[str, type] = {
    "accuracy": Accuracy,
    "exact_match": ExactMatch,
    "numeric_match": NumericMatch,
    "f1": TokenF1,
}


def metric_from_name(name: str, /, **options: object) -> Metric:
    """Build a metric by its ``name`` (as written in task configs and artifacts)."""
    cls = _METRICS.get(name)
    if cls is None:
        raise ValueError(f"unknown metric {name!r}: choose one of {sorted(_METRICS)}")
    allowed = sorted(f.name for f in fields(cls) if f.init)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"metric {name!r}: unknown option(s) {unknown} (allowed: {allowed or 'none'})")
    metric: Metric = cls(**options)
    return metric
