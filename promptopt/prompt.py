"""Prompt: an instruction plus few-shot examples, rendered into chat messages, hashed, measured.

Two renderers:

- ``paper``: reproduces the CAPO paper's format exactly (a neutral system message; the user
  message is the instruction, then each example as ``Input:\\n<x>\\nOutput:\\n<y>``, then
  ``Input:\\n<x>``, all separated by blank lines);
- ``chat``: the instruction as the system message and each example as a user/assistant turn.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

from promptopt import records
from promptopt.llm.records import Message

#: The fixed neutral system message of the paper-compatible renderer.
NEUTRAL_SYSTEM = "You are a helpful assistant."


@dataclass(frozen=True)
class FewShot(records.Record):
    """One demonstration: the rendered input and the output the model should imitate."""

    input: str
    output: str


@dataclass(frozen=True)
class Prompt(records.Record):
    """A candidate prompt. Its identity (``hash``) covers the instruction and the examples.

    Persisted as ``{"instruction", "examples": [{"input", "output"}]}`` (journals, artifacts).
    """

    instruction: str
    examples: tuple[FewShot, ...] = ()

    def __post_init__(self) -> None:
        if not self.instruction.strip():
            raise ValueError("a prompt needs a non-empty instruction")

    @property
    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def text(self) -> str:
        """Instruction and examples as the downstream model reads them (what length measures)."""
        return "\n\n".join([self.instruction, *(_example_block(e) for e in self.examples)])

    def render(self, input_text: str, renderer: str = "paper") -> tuple[Message, ...]:
        return renderer_for(renderer)(self, input_text)


def _example_block(example: FewShot) -> str:
    return f"Input:\n{example.input}\nOutput:\n{example.output}"


def render_paper(prompt: Prompt, input_text: str) -> tuple[Message, ...]:
    user = "\n\n".join([prompt.text(), f"Input:\n{input_text}"])
    return (Message("system", NEUTRAL_SYSTEM), Message("user", user))


def render_chat(prompt: Prompt, input_text: str) -> tuple[Message, ...]:
    turns: list[Message] = [Message("system", prompt.instruction)]
    for example in prompt.examples:
        turns.append(Message("user", example.input))
        turns.append(Message("assistant", example.output))
    turns.append(Message("user", input_text))
    return tuple(turns)


RENDERERS: dict[str, Callable[[Prompt, str], tuple[Message, ...]]] = {
    "paper": render_paper,
    "chat": render_chat,
}


def renderer_for(name: str) -> Callable[[Prompt, str], tuple[Message, ...]]:
    try:
        return RENDERERS[name]
    except KeyError:
        raise ValueError(f"unknown renderer '{name}' (choose from: {', '.join(RENDERERS)})") from None


def load_prompt_text(text: str) -> Prompt:
    """A hand-written prompt file: the whole text is the instruction."""
    return Prompt(instruction=text.strip())

