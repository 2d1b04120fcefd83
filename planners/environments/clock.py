"""The asynchronous event-driven clock both worlds run on.

Every agent's current action is a list of timed phases ``(finish tick, kind, argument)``. The
clock jumps to the earliest phase due, applies every phase due at that tick (agents in a fixed
order, so episodes are deterministic), and stops as soon as some agent has nothing left to do
(it must be asked for a new action), the episode is done, or the next phase lies past the horizon.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EventClock"]


class EventClock:
    """Mixin for a world with ``tick``, ``done``, ``config.horizon``, ``_agents`` (name -> state
    with a ``phases`` list), ``_apply(agent, kind, arg)`` and ``_check_done()``."""

    tick: int
    done: bool
    config: Any
    _agents: dict[str, Any]

    def _apply(self, ag: Any, kind: str, arg: Any) -> None:  # pragma: no cover - each world has its own
        raise NotImplementedError

    def _check_done(self) -> None:  # pragma: no cover - each world has its own
        raise NotImplementedError

    def _advance(self) -> None:
        agents = list(self._agents.values())
        while not self.done and all(a.phases for a in agents):
            t = min(a.phases[0][0] for a in agents)
            if t > self.config.horizon:
                self.tick, self.done = self.config.horizon, True
                break
            self.tick = t
            for ag in agents:
                while ag.phases and ag.phases[0][0] <= t:
                    _, kind, arg = ag.phases.pop(0)
                    self._apply(ag, kind, arg)
            self._check_done()
        self._check_done()
