"""A run's spend across its sessions, and the budget check that sees it.

A resumed run re-executes from the start and the response cache answers what earlier sessions
paid for: free now, but spent then. So the budget sees the earlier sessions' spend as well, as it
stood at the point the replay has reached (the journal's spend notes say how much that was, and
the run's paid log what a killed session paid after its last note), and
a budget stop journaled by an earlier session, which happened at a batch that was never sent, is
hit again there with its stored reason instead of sending that batch.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Iterable, Protocol, Sequence

from promptopt.budget import BudgetExhausted, BudgetGuard
from promptopt.llm.ledger import RoleUsage, UsageLedger, add_roles
from promptopt.paid_log import PAID_LOG, PaidLog
from promptopt.runs import RunDir

__all__ = ["BUDGET_STOPS", "CarriedSpend", "ReplayGuard"]

#: Journal events that record a budget stop at a batch that was never sent.
BUDGET_STOPS = ("stop", "evidence_incomplete")


class Guarded(Protocol):
    """A client whose batches a guard checks (``LLMClient``)."""

    def set_guard(self, guard: Any) -> None: ...


def _stored_notes(run_dir: RunDir | None) -> list[tuple[int, dict[str, Any]]]:
    """(seq, cumulative usage) of the spend notes earlier sessions of this run wrote."""
    if run_dir is None:
        return []
    return [(int(e["seq"]), e["usage"]) for e in run_dir.events() if e.get("event") == "spend" and e.get("note") is True]


class CarriedSpend:
    """The usage a run's budget and summary see: this session's ledger plus what earlier sessions
    had spent by the point the run has reached.

    Between :meth:`open` and :meth:`close` every charge on the ledger goes to the run's paid log.
    """

    def __init__(self, ledger: UsageLedger, run_dir: RunDir | None) -> None:
        self.ledger = ledger
        self.run_dir = run_dir
        self._notes = _stored_notes(run_dir)
        self._log: PaidLog | None = None
        #: (seq, role, usage) that earlier sessions paid after the last stored note.
        self._unnoted: list[tuple[int, str, RoleUsage]] = []

    def open(self) -> None:
        """Start logging this session's charges; read what killed sessions paid unnoted."""
        if self.run_dir is None or self._log is not None:
            return
        self._log = PaidLog(self.run_dir.path / PAID_LOG)
        self._unnoted = self._log.earlier(self._notes[-1][0] if self._notes else -1)
        self.ledger.listen(self._paid)

    def close(self) -> None:
        if self._log is not None:
            self.ledger.unlisten(self._paid)
            self._log.close()
            self._log = None

    def _paid(self, role: str, usage: RoleUsage) -> None:
        if self._log is not None and self.run_dir is not None and usage != RoleUsage(cache_hits=usage.cache_hits):
            self._log.add(self.run_dir.position, role, usage)

    def carried(self) -> dict[str, RoleUsage]:
        """Earlier sessions' spend: while the journal is being replayed, the last note before the
        next stored decision; afterwards, the last note. Either way plus what sessions killed after
        the last note paid before the point the run has reached."""
        if self.run_dir is None:
            return {}
        upcoming = self.run_dir.replay_next
        limit = None if upcoming is None else int(upcoming["seq"])
        usable = [usage for seq, usage in self._notes if limit is None or seq < limit]
        # from_dict: notes written before a field existed (``retries``) still load.
        noted = {role: RoleUsage.from_dict(values) for role, values in (usable[-1] if usable else {}).items()}
        unnoted = [{role: usage} for seq, role, usage in self._unnoted if limit is None or seq < limit]
        return add_roles(noted, *unnoted)

    def snapshot(self) -> dict[str, RoleUsage]:
        now = self.ledger.snapshot()
        return add_roles(self.carried(), now)

    def note(self, generation: int) -> None:
        """Journal the spend so far as a note; while replaying, the stored notes already say it."""
        if self.run_dir is not None and not self.run_dir.replaying:
            usage = {role: asdict(u) for role, u in self.snapshot().items()}
            self.run_dir.note("spend", generation=generation, usage=usage)


class ReplayGuard:
    """The check a run's clients make before every batch: the budget guard, replay-aware."""

    def __init__(self, guard: BudgetGuard, run_dir: RunDir | None) -> None:
        self.guard = guard
        self.run_dir = run_dir

    def __call__(self, role: str, n_requests: int) -> None:
        """A replay reaches a journaled budget stop as its first uncached batch (that batch was
        never answered): stop again with the stored reason. Otherwise ask the budget guard."""
        upcoming = self.run_dir.replay_next if self.run_dir is not None else None
        if upcoming is not None and upcoming.get("event") in BUDGET_STOPS:
            raise BudgetExhausted(str(upcoming.get("reason")))
        self.guard(role, n_requests)

    def allowance(self, role: str, estimates: Sequence[RoleUsage]) -> int:
        """How many of a batch fit (see :meth:`BudgetGuard.allowance`)."""
        return self.guard.allowance(role, estimates)

    def install(self, clients: Iterable[Guarded]) -> None:
        """Check before every batch of each client (they may be different servers)."""
        for client in clients:
            client.set_guard(self)

    @staticmethod
    def uninstall(clients: Iterable[Guarded]) -> None:
        for client in clients:
            client.set_guard(None)

