"""A run's spend across sessions (promptopt.spend): what a resumed run's budget sees at each point
of the replay, and the stored budget stop it reaches again."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from promptopt.budget import Budget, BudgetExhausted, BudgetGuard, CallLimit
from promptopt.llm.ledger import RoleUsage, UsageLedger
from promptopt.runs import RunDir
from promptopt.spend import CarriedSpend, ReplayGuard

FIRST = {"downstream": RoleUsage(requests=3, prompt_tokens=30)}
SECOND = {"downstream": RoleUsage(requests=5, prompt_tokens=50), "meta": RoleUsage(requests=1)}


def _earlier_session(path) -> None:
    run = RunDir(path)
    run.record("data", n=1)
    run.note("spend", generation=0, usage={r: asdict(u) for r, u in FIRST.items()})
    run.record("generation", generation=1)
    run.note("spend", generation=1, usage={r: asdict(u) for r, u in SECOND.items()})
    run.record("stop", generation=1, reason="call budget reached: 6 of 6 requests (all roles)")
    run.release()


def test_carried_spend_is_the_last_note_before_the_next_stored_decision(tmp_path) -> None:
    _earlier_session(tmp_path)
    run = RunDir(tmp_path)
    ledger = UsageLedger()
    spend = CarriedSpend(ledger, run)
    assert spend.carried() == {}  # nothing was spent before the first decision
    run.record("data", n=1)
    assert spend.carried() == FIRST
    ledger.add("downstream", RoleUsage(requests=1, prompt_tokens=7))
    assert spend.snapshot() == {"downstream": RoleUsage(requests=4, prompt_tokens=37)}
    spend.note(generation=1)  # while replaying the stored notes already say it
    run.record("generation", generation=1)
    assert spend.carried() == SECOND
    assert spend.snapshot()["downstream"] == RoleUsage(requests=6, prompt_tokens=57)
    run.release()


def test_what_a_killed_session_paid_after_its_last_note_is_carried(tmp_path) -> None:
    first_ledger = UsageLedger()
    run = RunDir(tmp_path)
    first = CarriedSpend(first_ledger, run)
    first.open()
    run.record("data", n=1)
    first_ledger.add("downstream", RoleUsage(requests=3, prompt_tokens=30))
    first.note(generation=0)
    run.record("generation", generation=1)
    first_ledger.add("downstream", RoleUsage(requests=2, prompt_tokens=20))  # paid, then killed:
    first_ledger.add("downstream", RoleUsage(cache_hits=1))  # no note holds it (a hit costs nothing)
    run.record("generation", generation=2)
    first_ledger.add("meta", RoleUsage(requests=1, completion_tokens=9))
    first.close()
    first_ledger.add("meta", RoleUsage(requests=100))  # the ledger outlives the run: not this run's
    run.release()

    run = RunDir(tmp_path)
    ledger = UsageLedger()
    spend = CarriedSpend(ledger, run)
    spend.open()
    run.record("data", n=1)
    assert spend.carried() == {"downstream": RoleUsage(requests=3, prompt_tokens=30)}
    run.record("generation", generation=1)
    # the replay stands where the first session was about to pay 2 more (for generation 2)
    assert spend.carried() == {"downstream": RoleUsage(requests=3, prompt_tokens=30)}
    ledger.add("downstream", RoleUsage(requests=1, prompt_tokens=4))  # this session's own
    run.record("generation", generation=2)  # past the journal: everything the first session paid
    assert spend.carried() == {"downstream": RoleUsage(requests=5, prompt_tokens=50),
                               "meta": RoleUsage(requests=1, completion_tokens=9)}
    assert spend.snapshot()["downstream"] == RoleUsage(requests=6, prompt_tokens=54)
    spend.note(generation=2)
    spend.close()
    run.release()

    # a third session carries the second's note, which already holds the first's unnoted spend
    run = RunDir(tmp_path)
    third = CarriedSpend(UsageLedger(), run)
    third.open()
    for event, fields in (("data", {"n": 1}), ("generation", {"generation": 1}), ("generation", {"generation": 2})):
        run.record(event, **fields)
    assert third.carried() == {"downstream": RoleUsage(requests=6, prompt_tokens=54),
                               "meta": RoleUsage(requests=1, completion_tokens=9)}
    third.close()
    run.release()


def test_a_replay_stops_again_at_a_stored_budget_stop(tmp_path) -> None:
    _earlier_session(tmp_path)
    run = RunDir(tmp_path)
    spend = CarriedSpend(UsageLedger(), run)
    check = ReplayGuard(BudgetGuard(Budget([CallLimit(1000)]), spend), run)
    check("downstream", 4)  # the stored run went on here
    run.record("data", n=1)
    run.record("generation", generation=1)
    with pytest.raises(BudgetExhausted, match="6 of 6 requests"):
        check("downstream", 4)  # the batch the stored run stopped at: never sent
    run.release()


def test_the_guard_goes_on_every_client_and_comes_off_again(tmp_path) -> None:
    class Client:
        guard = None

        def set_guard(self, guard) -> None:
            self.guard = guard

    clients = [Client(), Client()]
    check = ReplayGuard(BudgetGuard(Budget(), UsageLedger()), None)
    check.install(clients)
    assert all(c.guard is check for c in clients)
    ReplayGuard.uninstall(clients)
    assert all(c.guard is None for c in clients)


def test_a_damaged_paid_log_is_one_error_naming_it(tmp_path) -> None:
    from promptopt.errors import PromptoptError

    (tmp_path / "paid.sqlite3").write_bytes(b"not a database at all" * 100)
    run = RunDir(tmp_path)
    spend = CarriedSpend(UsageLedger(), run)
    with pytest.raises(PromptoptError, match=r"paid log .*paid\.sqlite3.*can be deleted"):
        spend.open()
    run.release()
