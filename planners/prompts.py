"""The texts the planning agents send to their model (our own wording).

Every prompt is one system line plus one user message. Prompts stay short because the embedded
model has a 2048-token context; the observation text comes from the environment's view.
"""

from __future__ import annotations

from collections.abc import Sequence

from promptopt.llm.records import Message
from promptopt.planners.environments import Observation

from .metaplan import Critique, MetaPlan, Subtask

__all__ = [
    "act_prompt",
    "adapt_prompt",
    "coela_prompt",
    "critique_prompt",
    "draft_prompt",
    "lettered",
    "message_prompt",
    "revise_prompt",
    "step_examples",
]

SYSTEM = ("You are an agent in a team that must finish a shared task in a house as fast as possible. "
          "Follow the requested answer format exactly.")
PLAN_FORMAT = ('{"subtasks":[{"id":"s1","agent":"NAME","goal":"...","steps":["..."],"status":"todo"}],'
               '"rationale":"..."}')


def plan_format(team: Sequence[str]) -> str:
    """The plan shape with one subtask per teammate, in team order.

    A small model copies the example's shape: with a single ``NAME`` entry Qwen2.5-Coder-0.5B
    gave the designer every subtask and the partner none, so the example names everyone.
    """
    if not team:
        return PLAN_FORMAT
    subtasks = ",".join(f'{{"id":"s{i}","agent":"{agent}","goal":"...","steps":["..."],"status":"todo"}}'
                        for i, agent in enumerate(team, 1))
    return f'{{"subtasks":[{subtasks}],"rationale":"..."}}'

CRITIQUE_FORMAT = '{"agree":true,"issues":[],"suggested_changes":[],"new_information":[]}'
#: How many of the designer's own available actions are shown as examples of step phrasing.
STEP_EXAMPLES = 6


def _messages(text: str) -> tuple[Message, ...]:
    return (Message("system", SYSTEM), Message("user", text))


def lettered(actions: Sequence[str]) -> str:
    """The action list as the model sees it: "A. go to Kitchen" (same letters as the world's view)."""
    return "\n".join(f"{_letter(i)}. {a}" for i, a in enumerate(actions))


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"A{i}"


def step_examples(obs: Observation) -> tuple[str, ...]:
    """Examples of step phrasing for a plan: one available action of each kind first (go to,
    explore, grasp, put, ...), then the world's templates for kinds not available yet
    (``view.step_phrases()`` where the view has it), then more available actions.

    The first actions of an episode are all room moves; shown only those, Qwen2.5-Coder-0.5B
    wrote plans of room visits that never grasped or delivered anything.
    """
    useful = [a for a in obs.actions if not a.startswith("send a message") and a != "wait"]
    first_of_kind: dict[str, str] = {}
    for a in useful:
        first_of_kind.setdefault(_kind(a), a)
    templates = getattr(obs.view, "step_phrases", lambda: ())()
    picked = [*first_of_kind.values(), *(t for t in templates if _kind(t) not in first_of_kind)]
    picked += [a for a in useful if a not in picked][:max(0, STEP_EXAMPLES - len(picked))]
    return tuple(picked)


def _kind(action: str) -> str:
    return " ".join(action.lower().split()[:2])


def _quoted(examples: Sequence[str]) -> str:
    return "; ".join(f'"{e}"' for e in examples)


def draft_prompt(agent: str, team: Sequence[str], observation: str, examples: Sequence[str]) -> tuple[Message, ...]:
    return _messages(
        f"You are {agent}, the plan designer of the team {', '.join(team)}.\n"
        f"What you know now:\n{observation}\n\n"
        "Write the team's meta-plan before anyone acts. Split the work into subtasks; give every subtask "
        "exactly one agent of the team and a few concrete steps, so that nobody duplicates a teammate's work. "
        f"Write steps in the world's own action phrases where you can, for example {_quoted(examples)}.\n"
        f"Answer with JSON only, in this form:\n{plan_format(team)}")


def critique_prompt(agent: str, designer: str, observation: str, plan: MetaPlan) -> tuple[Message, ...]:
    return _messages(
        f"You are {agent}. Check the plan {designer} proposes for the team against what you know yourself.\n"
        f"What you know now:\n{observation}\n\n"
        f"The proposed plan:\n{plan.to_json()}\n\n"
        "Is the plan feasible and does it use what you know? Agree only if you would carry it out as written. "
        f"Answer with JSON only, in this form:\n{CRITIQUE_FORMAT}")


def _feedback(critiques: Sequence[tuple[str, Critique]]) -> str:
    lines = []
    for name, c in critiques:
        parts = ["agrees" if c.agree else "does not agree"]
        for label, items in (("issues", c.issues), ("suggested changes", c.suggested_changes),
                             ("new information", c.new_information)):
            if items:
                parts.append(f"{label}: " + "; ".join(items))
        lines.append(f"- {name} " + ". ".join(parts))
    return "\n".join(lines)


def revise_prompt(agent: str, team: Sequence[str], observation: str, plan: MetaPlan,
                  critiques: Sequence[tuple[str, Critique]], update_only: bool) -> tuple[Message, ...]:
    scope = ("Return only the subtasks you change or add (keep their ids); unchanged subtasks stay as they are."
             if update_only else "Return the whole revised plan.")
    return _messages(
        f"You are {agent}, the plan designer of the team {', '.join(team)}.\n"
        f"What you know now:\n{observation}\n\n"
        f"Your plan:\n{plan.to_json()}\n\n"
        f"Your teammates answered:\n{_feedback(critiques)}\n\n"
        f"Revise the plan to settle their points. {scope}\n"
        f"Answer with JSON only, in this form:\n{plan_format(team)}")


def adapt_prompt(agent: str, team: Sequence[str], observation: str, plan: MetaPlan,
                 progress: Sequence[str], examples: Sequence[str]) -> tuple[Message, ...]:
    return _messages(
        f"You are {agent} of the team {', '.join(team)}. The team follows this plan (version {plan.version}):\n"
        f"{plan.text()}\n\n"
        "Progress since then:\n" + "\n".join(f"- {p}" for p in progress) + "\n\n"
        f"What you know now:\n{observation}\n\n"
        "Update the plan for this progress. Change only the subtasks the progress affects (keep their ids) "
        "and add new ones if needed; leave out subtasks that stay the same. "
        f"Write steps in the world's own action phrases, for example {_quoted(examples)}.\n"
        f"Answer with JSON only, in this form:\n{PLAN_FORMAT}")


def act_prompt(agent: str, observation: str, actions: Sequence[str], plan: MetaPlan,
               subtask: Subtask | None, step: str | None) -> tuple[Message, ...]:
    mine = (f"Your subtask: {subtask.line()}\nYour next step: {step or 'choose what serves your subtask'}"
            if subtask else "You have no open subtask: help the team goal.")
    return _messages(
        f"You are {agent}.\n{observation}\n\n"
        f"Team plan (version {plan.version}):\n{plan.text()}\n{mine}\n\n"
        f"Available actions:\n{lettered(actions)}\n"
        "Which action do you take now? Answer with the letter only.")


def coela_prompt(agent: str, team: Sequence[str], observation: str, actions: Sequence[str]) -> tuple[Message, ...]:
    others = ", ".join(a for a in team if a != agent) or "nobody"
    return _messages(
        f"You are {agent}; your teammates are {others}.\n{observation}\n\n"
        f"Available actions:\n{lettered(actions)}\n"
        "Which action do you take now? You may send a message to coordinate. Answer with the letter only.")


def message_prompt(agent: str, team: Sequence[str], observation: str) -> tuple[Message, ...]:
    others = ", ".join(a for a in team if a != agent) or "the team"
    return _messages(
        f"You are {agent}.\n{observation}\n\n"
        f"Write one short sentence to {others} that helps the team: what you found, or what you will do "
        "next so nobody duplicates it. Answer with the message only.")
