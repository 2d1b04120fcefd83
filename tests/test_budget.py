"""Stop conditions fire exactly at their thresholds; the guard bounds overshoot to one batch."""

from __future__ import annotations

import json
import random

import pytest

from promptopt.budget import (
    Budget,
    BudgetError,
    BudgetExhausted,
    BudgetGuard,
    BudgetState,
    CallLimit,
    MaxGenerations,
    NoImprovement,
    StopFile,
    TokenLimit,
    USDLimit,
    WallTime,
)
from promptopt.errors import PromptoptError
from promptopt.llm.ledger import RoleUsage, UsageLedger
from promptopt.llm.records import ChatResponse, Usage


def state(**usage: RoleUsage) -> BudgetState:
    return BudgetState(usage=usage)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_limit_all_roles_fires_at_threshold() -> None:
    limit = TokenLimit(1000)
    assert limit.reason(state()) is None
    assert limit.reason(state(downstream=RoleUsage(prompt_tokens=600), meta=RoleUsage(completion_tokens=399))) is None
    why = limit.reason(state(downstream=RoleUsage(prompt_tokens=600), meta=RoleUsage(completion_tokens=400)))
    assert why == "token budget reached: 1,000 of 1,000 tokens (all roles)"


def test_token_limit_per_role_ignores_other_roles() -> None:
    limit = TokenLimit(500, role="downstream")
    assert limit.reason(state(meta=RoleUsage(prompt_tokens=10_000))) is None
    assert limit.reason(state(downstream=RoleUsage(prompt_tokens=499))) is None
    why = limit.reason(state(downstream=RoleUsage(prompt_tokens=400, completion_tokens=100)))
    assert why is not None and "500 of 500 tokens (role 'downstream')" in why


def test_token_limit_prompt_and_completion_kinds() -> None:
    usage = state(downstream=RoleUsage(prompt_tokens=300, completion_tokens=50))
    assert TokenLimit(301, kind="prompt").reason(usage) is None
    assert "300 of 300 prompt tokens" in (TokenLimit(300, kind="prompt").reason(usage) or "")
    assert TokenLimit(51, kind="completion").reason(usage) is None
    assert "50 of 50 completion tokens" in (TokenLimit(50, kind="completion").reason(usage) or "")
    assert TokenLimit(350).reason(usage) is not None and TokenLimit(351).reason(usage) is None


def test_call_limit_counts_requests_not_cache_hits() -> None:
    limit = CallLimit(3)
    assert limit.reason(state(downstream=RoleUsage(requests=2, cache_hits=1000))) is None
    spent = state(downstream=RoleUsage(requests=2), meta=RoleUsage(requests=1))
    assert "3 of 3 requests (all roles)" in (limit.reason(spent) or "")
    assert CallLimit(3, role="meta").reason(state(downstream=RoleUsage(requests=50), meta=RoleUsage(requests=2))) is None
    assert CallLimit(2, role="meta").reason(spent) is None and CallLimit(2, role="downstream").reason(spent)


def test_usd_limit_never_fires_without_prices() -> None:
    limit = USDLimit(0.5)
    assert limit.reason(state(downstream=RoleUsage(requests=10**6, prompt_tokens=10**9))) is None
    assert limit.reason(state(downstream=RoleUsage(usd=0.2), meta=RoleUsage(usd=0.29))) is None
    assert limit.reason(state(downstream=RoleUsage(usd=0.2), meta=RoleUsage(usd=0.3), judge=RoleUsage())) is not None


def test_wall_time_with_injected_clock() -> None:
    clock = FakeClock()
    guard = BudgetGuard(Budget([WallTime(60)]), UsageLedger(), clock=clock)
    clock.now += 59.9
    guard("downstream", 1)
    clock.now += 0.1
    with pytest.raises(BudgetExhausted, match="wall time reached: 60.0 s of 60.0 s"):
        guard("downstream", 1)


def test_generations_and_no_improvement() -> None:
    guard = BudgetGuard(Budget([MaxGenerations(3), NoImprovement(2)]), UsageLedger())
    guard.generation = 2
    guard.generations_without_improvement = 1
    guard.check()
    guard.generations_without_improvement = 2
    with pytest.raises(BudgetExhausted, match="no improvement for 2 generations"):
        guard.check()
    guard.generations_without_improvement = 0
    guard.generation = 3
    with pytest.raises(BudgetExhausted, match="generation limit reached: 3 of 3"):
        guard.check()


def test_stop_file_created_mid_run(tmp_path) -> None:
    guard = BudgetGuard(Budget.from_options(), UsageLedger(), run_dir=tmp_path)
    guard("meta", 4)
    assert StopFile().reason(BudgetState(usage={})) is None  # no run directory: never fires
    (tmp_path / "STOP").touch()
    with pytest.raises(BudgetExhausted) as info:
        guard("meta", 4)
    assert str(tmp_path / "STOP") in info.value.reason


def test_first_firing_condition_gives_the_reason() -> None:
    budget = Budget([TokenLimit(10**9), CallLimit(1), MaxGenerations(0)])
    assert budget.reason(state(downstream=RoleUsage(requests=1))) == "call budget reached: 1 of 1 requests (all roles)"
    assert Budget().reason(state(downstream=RoleUsage(requests=10**9))) is None
    assert Budget().describe() == "no limits"
    assert "at most 1 requests" in budget.describe()


def test_budget_json_round_trip() -> None:
    budget = Budget.from_options(
        tokens=5_000_000, usd=2.5, calls=100, wall_time_s=3600, generations=12, no_improvement=3,
        role_tokens={"meta": 1000, "downstream": 2000},
    )
    data = json.loads(json.dumps(budget.to_dict()))
    again = Budget.from_dict(data)
    assert again == budget
    assert again.to_dict() == data
    assert TokenLimit(2000, role="downstream") in again.conditions
    assert StopFile() in again.conditions
    assert StopFile() not in Budget.from_options(stop_file=False).conditions
    assert Budget([TokenLimit(5, role="judge", kind="completion")]).to_dict() == {
        "conditions": [{"type": "tokens", "limit": 5, "role": "judge", "kind": "completion"}]
    }


def test_stored_numbers_keep_their_json_type() -> None:
    """config.json is written the way it was before pydantic: an int limit of seconds or dollars
    stays an int, so a resumed run's file does not churn."""
    text = json.dumps(Budget([USDLimit(3), WallTime(2.5), TokenLimit(7)]).to_dict())
    assert text == ('{"conditions": [{"type": "usd", "limit": 3}, {"type": "wall_time", "seconds": 2.5}, '
                    '{"type": "tokens", "limit": 7, "role": null, "kind": "total"}]}')
    assert Budget.from_dict(json.loads(text)) == Budget([USDLimit(3.0), WallTime(2.5), TokenLimit(7)])


@pytest.mark.parametrize(
    "data, message",
    [
        ({"conditions": [{"type": "eval", "limit": 1}]}, r"conditions\.0: unknown budget condition type \(known: tokens"),
        ({"conditions": [{"type": "tokens", "limit": 1, "code": "x"}]}, r"conditions\.0\.tokens\.code: Unexpected"),
        ({"conditions": [{"type": "tokens"}]}, r"conditions\.0\.tokens\.limit: Field required"),
        ({"conditions": [{"type": "tokens", "limit": "10"}]}, r"conditions\.0\.tokens\.limit: Input should be a valid integer"),
        ({"conditions": [{"type": "tokens", "limit": 10, "kind": "input"}]}, r"conditions\.0\.tokens\.kind: Input should be 'total'"),
        ({"conditions": [{"type": "calls", "limit": True}]}, r"conditions\.0\.calls\.limit: .* \(got True\)"),
        ({"conditions": [{"type": "tokens", "limit": -3}]}, r"conditions\.0\.tokens: TokenLimit\.limit must be an integer >= 0"),
        ({"conditions": [{"type": "stop_file", "name": "../STOP"}]}, "plain file name"),
        ({"limits": []}, "^budget: conditions: Field required"),
        ([], "^budget: Input should be a dictionary"),
    ],
)
def test_budget_from_dict_refuses_bad_data(data, message) -> None:
    with pytest.raises(BudgetError, match=message) as info:
        Budget.from_dict(data)
    assert isinstance(info.value, PromptoptError)


def test_invalid_options_are_refused() -> None:
    with pytest.raises(BudgetError, match="USDLimit.limit"):
        Budget.from_options(usd=-1)
    with pytest.raises(BudgetError, match="NoImprovement.generations"):
        Budget.from_options(no_improvement=0)


def test_guard_raises_with_reason_only_at_the_limit() -> None:
    ledger = UsageLedger()
    guard = BudgetGuard(Budget([TokenLimit(100, role="downstream")]), ledger)
    ledger.record("downstream", ChatResponse(text="x", usage=Usage(prompt_tokens=60, completion_tokens=39)))
    ledger.record_hit("downstream", 50)
    guard("downstream", 8)
    assert guard.state().usage["downstream"].total_tokens == 99
    ledger.record("downstream", ChatResponse(text="x", usage=Usage(prompt_tokens=1)))
    with pytest.raises(BudgetExhausted) as info:
        guard("meta", 1)  # a spent budget stops every role
    assert info.value.reason == "token budget reached: 100 of 100 tokens (role 'downstream')"
    assert "budget exhausted" in str(info.value)


@pytest.mark.parametrize("seed", range(5))
def test_overshoot_is_at_most_one_batch(seed: int) -> None:
    rng = random.Random(seed)
    ledger = UsageLedger()
    token_limit, call_limit = 20_000, 400
    tokens = BudgetGuard(Budget([TokenLimit(token_limit)]), ledger)
    calls = BudgetGuard(Budget([CallLimit(call_limit, role="downstream")]), ledger)
    largest_batch_tokens = largest_batch_calls = 0
    stopped = None
    for _ in range(10_000):
        role = rng.choice(["downstream", "meta"])
        size = rng.randint(1, 16)
        batch = [ChatResponse(text="a", usage=Usage(rng.randint(5, 200), rng.randint(0, 50))) for _ in range(size)]
        try:
            tokens(role, len(batch))
            calls(role, len(batch))
        except BudgetExhausted as exc:
            stopped = exc
            break
        ledger.record_hit(role, rng.randint(0, 5))  # cached answers are free and never guarded
        for response in batch:
            ledger.record(role, response)
        largest_batch_tokens = max(largest_batch_tokens, sum(r.usage.total_tokens for r in batch))
        if role == "downstream":
            largest_batch_calls = max(largest_batch_calls, len(batch))
    assert stopped is not None
    total = ledger.total()
    downstream_calls = ledger.role("downstream").requests
    assert total.total_tokens >= token_limit or downstream_calls >= call_limit
    assert total.total_tokens < token_limit + largest_batch_tokens
    assert downstream_calls < call_limit + largest_batch_calls


def test_the_allowance_cuts_a_batch_where_it_would_cross_a_limit() -> None:
    ledger = UsageLedger()
    guard = BudgetGuard(Budget([TokenLimit(1000), CallLimit(12, role="meta")]), ledger)
    ledger.record("downstream", ChatResponse(text="x", usage=Usage(prompt_tokens=700, completion_tokens=0)))
    each = RoleUsage(requests=1, prompt_tokens=90, completion_tokens=10)
    assert guard.allowance("downstream", [each] * 2) == 2  # 700 + 200 fits
    assert guard.allowance("downstream", [each] * 8) == 3  # 700 + 300 = 1000 fits, a fourth would not
    with pytest.raises(BudgetExhausted, match=r"token budget reached: 700 of 1,000 tokens \(all roles\) spent, "
                                              r"and one more request would take about 400"):
        guard.allowance("downstream", [RoleUsage(requests=1, prompt_tokens=400)])
    # a role that sent nothing yet may send one request: its estimate is a guess until then
    assert guard.allowance("judge", [RoleUsage(requests=1, prompt_tokens=400)] * 3) == 1
    # a call limit counts requests of its role only
    cheap = RoleUsage(requests=1, prompt_tokens=1)
    assert guard.allowance("meta", [cheap] * 20) == 12
    assert guard.allowance("downstream", [cheap] * 20) == 20


def test_room_is_the_tightest_countable_limit_for_more_spends_of_a_unit():
    from promptopt.budget import BudgetState, CallLimit, TokenLimit

    state = BudgetState(usage={"meta": RoleUsage(requests=4, prompt_tokens=900, completion_tokens=100),
                               "downstream": RoleUsage(requests=40, prompt_tokens=3000, completion_tokens=400)})
    unit = {"meta": RoleUsage(requests=1, prompt_tokens=200, completion_tokens=50),
            "downstream": RoleUsage(requests=8, prompt_tokens=600, completion_tokens=80)}
    # 4,400 of 6,000 tokens spent, 930 per unit: one more fits
    room = Budget([TokenLimit(6000), CallLimit(100)]).room(state, unit)
    assert (room.units, room.used, room.per_unit) == (1, 4400, 930)
    assert room.describe() == "4,400 of 6,000 tokens (all roles) spent, about 930 more each"
    # calls bind first: 44 of 50 requests, 9 per unit
    assert Budget([TokenLimit(60000), CallLimit(50)]).room(state, unit).units == 0
    # a meta-only limit counts only the meta part of the unit; a limit past its spend has no room
    assert Budget([TokenLimit(1500, role="meta")]).room(state, unit).units == 2
    assert Budget([TokenLimit(100, role="meta")]).room(state, unit).units == 0
    # a limit the unit costs nothing against, and limits that count no spend, give no room
    assert Budget([TokenLimit(10, role="judge"), MaxGenerations(3)]).room(state, unit) is None


def test_a_custom_condition_has_no_stored_form() -> None:
    class Mine:
        def reason(self, state: BudgetState) -> str | None:
            return None

        def describe(self) -> str:
            return "never"

    with pytest.raises(BudgetError, match="Mine cannot be stored in config.json: only the built-in conditions"):
        Budget([Mine()]).to_dict()
