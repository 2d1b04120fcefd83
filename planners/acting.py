"""Ask the model for one action, and for the words when it chooses to send a message.

Shared by the CaPo executor and the CoELA-style baseline: the reply is read with
:func:`~.execution.parse_choice` (exact, letter, fuzzy, safe default); the letter the prompt
asks for and the action's own words are answers, every other fallback and a spent budget are
counted in the episode's cost book under ``act.*`` or ``message.*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from promptopt.planners.environments import Observation

from promptopt.llm.records import Message

from .execution import MESSAGE_ACTION, parse_choice, safe_default
from .llmcall import Ask, ModuleLLM
from .prompts import message_prompt

__all__ = ["ActLimits", "choose_action", "sanitize_message"]

MAX_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class ActLimits:
    act_tokens: int = 16
    message_tokens: int = 48


def sanitize_message(text: str) -> str:
    """One line, no surrounding quotes, at most ``MAX_MESSAGE_CHARS`` characters."""
    line = " ".join(text.strip().split())
    line = line.strip("\"'`").strip()
    if line.lower().startswith("send a message:"):
        line = line[len("send a message:"):].strip()
    return line[:MAX_MESSAGE_CHARS]


async def choose_action(llm: ModuleLLM, agent: str, team: Sequence[str], obs: Observation,
                        prompt: tuple[Message, ...], limits: ActLimits) -> str:
    """The action string to send to the world."""
    actions = obs.actions
    reply = await llm.ask(Ask("act", agent, prompt, limits.act_tokens))
    if reply is None:
        llm.costs.decisions["default"] += 1
        return safe_default(actions)
    action, method = parse_choice(reply, actions)
    llm.costs.decisions[f"llm.{method}"] += 1
    if method not in ("exact", "letter"):  # the prompt asks for the letter: that is no fallback
        llm.costs.fallback(f"act.{method}")
    if action != MESSAGE_ACTION:
        return action
    words = sanitize_message(reply) if reply.strip().lower().startswith("send a message:") else ""
    if words and words != "<text>":  # the model already wrote the message with its choice
        llm.costs.communicate("message", words)
        return f"send a message: {words}"
    text = await llm.ask(Ask("message", agent, message_prompt(agent, team, obs.text), limits.message_tokens))
    words = sanitize_message(text or "")
    if not words:
        if text is not None:  # a spent budget or a failed call is already counted
            llm.costs.fallback("message.default")
        return safe_default([a for a in actions if a != MESSAGE_ACTION] or ["wait"])
    llm.costs.communicate("message", words)
    return f"send a message: {words}"
