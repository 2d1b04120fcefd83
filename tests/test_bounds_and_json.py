"""Sizes are bounded in one place (issue 14, row 2) and JSON nested 10^5 deep is a decode error,
not a RecursionError, wherever it comes from: a file or a model's answer (row 6)."""

from __future__ import annotations

import json

import pytest

from promptopt import jsonio
from promptopt.bounds import BOUNDS
from promptopt.optimizers.capo import CAPOConfig
from promptopt.optimizers.evoprompt import EvoPromptGAConfig
from promptopt.optimizers.opro import OPROConfig

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("make, field", [
    (lambda: CAPOConfig(population=10**9), "population"),
    (lambda: CAPOConfig(max_shots=10**6), "max_shots"),
    (lambda: CAPOConfig(population=1), "population"),
    (lambda: OPROConfig(proposals=10**9), "proposals"),
    (lambda: EvoPromptGAConfig(offspring=10**9), "offspring"),
    (lambda: CAPOConfig(block_size=True), "block_size"),
])
def test_an_absurd_size_is_refused_when_the_config_is_built(make, field):
    with pytest.raises(ValueError, match=f"^{field} must be an integer from "):
        make()


def test_every_bound_admits_the_defaults():
    for config in (CAPOConfig(), OPROConfig(), EvoPromptGAConfig()):
        for name, bound in BOUNDS.items():
            if hasattr(config, name):
                assert bound.low <= getattr(config, name) <= bound.high, name


def test_too_deep_json_is_a_decode_error_at_the_place():
    with pytest.raises(json.JSONDecodeError, match=r"nested too deeply \(100,001 levels\)") as caught:
        jsonio.loads('\n{"a": ' + DEEP + "}")
    assert (caught.value.lineno, caught.value.colno) == (2, 100_006)
    with pytest.raises(json.JSONDecodeError):
        jsonio.raw_decode("x " + DEEP, 2)
    assert jsonio.loads(b'{"a": [1, "[[["]}') == {"a": [1, "[[["]}
    assert jsonio.raw_decode('say {"a": 1} and more', 4) == ({"a": 1}, 12)


def test_a_model_answer_nested_too_deep_is_an_unparsable_answer():
    from promptopt.judging.rubric import RubricError, parse_rubric_text
    from promptopt.planners import parse_critique

    parsed = parse_critique('{"verdict": ' + DEEP + "}")
    assert parsed.method == "default"
    with pytest.raises(RubricError):
        parse_rubric_text('{"items": ' + DEEP + "}")
    from promptopt.judging.judge import parse_judgement
    from promptopt.judging.rubric import Rubric

    with pytest.raises(ValueError, match="nested too deeply"):
        parse_judgement('{"items": ' + DEEP + "}", Rubric.from_description("Summarize."))
