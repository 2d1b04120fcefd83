"""The one mapping of search options onto optimizer configs (promptopt.settings)."""

from __future__ import annotations

import pytest

from promptopt.benchmark.configs import DOWNSTREAM, config_for
from promptopt.benchmark.plan import BenchSettings
from promptopt.settings import SearchOptions


def test_zero_is_a_setting_not_an_omission():
    # --max-shots 0 (zero-shot) must reach the config: CAPO's default is 5 shots
    options = SearchOptions(max_shots=0)
    assert options.given() == {"max_shots": 0}
    assert options.config_for("capo").max_shots == 0
    with pytest.raises(ValueError, match="--max-shots does not apply to optimizer 'opro'"):
        options.check_applies(("opro",))


def test_an_option_applies_where_the_grid_has_it_and_is_an_error_where_it_has_none():
    options = SearchOptions(max_shots=1, offspring=3)
    options.check_applies(("capo", "opro"))  # max_shots: CAPO has it
    assert options.config_for("opro").proposals == 3
    assert options.config_for("capo").max_shots == 1
    with pytest.raises(ValueError, match="--max-shots does not apply to optimizers 'opro', 'evoprompt-de'"):
        options.check_applies(("opro", "evoprompt-de"))


def test_bench_scores_every_optimizer_with_the_paper_sampling_capped_by_max_tokens():
    settings = BenchSettings(max_tokens=9)
    for name in ("capo", "opro", "evoprompt-ga", "evoprompt-de", "initial"):
        sampling = config_for(name, settings).sampling
        assert (sampling.temperature, sampling.top_p, sampling.max_tokens) == (DOWNSTREAM.temperature, DOWNSTREAM.top_p, 9)
    assert config_for("mpo", settings).search.sampling.max_tokens == 9


def test_new_capo_only_fields_are_written_only_when_set():
    # stored bench cells compare this dict: settings without the new fields read as before
    assert "max_blocks" not in BenchSettings().to_dict() and "paper_compat" not in BenchSettings().to_dict()
    assert BenchSettings(max_blocks=3, paper_compat=True).to_dict()["max_blocks"] == 3
