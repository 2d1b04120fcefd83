"""Versioned JSON prompt artifacts: what optimization produces and applications load.

An artifact holds the prompt, how to render it and parse answers, the task and data it was scored
on, the model and sampling parameters, scores with intervals, its token length and where it came
from. Files are pretty-printed with sorted keys and a trailing newline, so they diff cleanly in git
and save → load → save is byte-identical. Loading validates the file and never executes code:
parsers are rebuilt from plain data, input templates allow only ``{field}`` placeholders, and
unknown fields are kept as inert data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promptopt import jsonio
from promptopt._version import __version__
from promptopt.bounds import BOUNDS
from promptopt.errors import PromptoptError
from promptopt.llm.records import ChatRequest, ChatResponse, Message, Sampling
from promptopt.prompt import RENDERERS, Prompt
from promptopt.tasks.records import ParsedAnswer

SCHEMA_VERSION = 1


class ArtifactError(PromptoptError):
    """An artifact file cannot be used: unreadable, invalid, or from a newer promptopt."""

    #: A bad artifact is bad input: exit 2, as for a bad data file or flag.
    exit_code = 2


class _Record(BaseModel):
    # Unknown fields are kept as plain data (and written back), never interpreted.
    model_config = ConfigDict(extra="allow", frozen=True)


class FewShotRecord(_Record):
    input: str
    output: str


class PromptRecord(_Record):
    instruction: str = Field(min_length=1)
    examples: list[FewShotRecord] = Field(default_factory=list)


class TaskRecord(_Record):
    name: str
    fingerprint: str
    input_fields: list[str] = Field(min_length=1)
    input_template: Optional[str] = None
    description: Optional[str] = None


class SamplingRecord(_Record):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=BOUNDS["max_tokens"].low, le=BOUNDS["max_tokens"].high)
    stop: list[str] = Field(default_factory=list)
    seed: Optional[int] = None


class ModelRecord(_Record):
    spec: str
    sampling: SamplingRecord = Field(default_factory=SamplingRecord)


class ScoreRecord(_Record):
    split: str
    metric: str
    n: int
    value: float
    low: float
    high: float


class TokenLengthRecord(_Record):
    value: int
    method: str


class ProvenanceRecord(_Record):
    optimizer: str
    run_id: Optional[str] = None
    generation: Optional[int] = None
    seed: Optional[int] = None
    parents: list[str] = Field(default_factory=list)


class Artifact(_Record):
    """The artifact file's content (schema version 1)."""

    schema_version: int = SCHEMA_VERSION
    promptopt_version: str = __version__
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    prompt: PromptRecord
    prompt_hash: str
    renderer: str = "paper"
    task: TaskRecord
    parser: dict[str, Any]
    metric: str
    model: Optional[ModelRecord] = None
    scores: list[ScoreRecord] = Field(default_factory=list)
    token_length: Optional[TokenLengthRecord] = None
    provenance: Optional[ProvenanceRecord] = None

    @field_validator("renderer")
    @classmethod
    def _known_renderer(cls, value: str) -> str:
        if value not in RENDERERS:
            raise ValueError(f"unknown renderer '{value}' (known: {', '.join(RENDERERS)})")
        return value

    @field_validator("parser")
    @classmethod
    def _valid_parser(cls, value: dict[str, Any]) -> dict[str, Any]:
        from promptopt.tasks.parsers import parser_from_spec

        parser_from_spec(value)  # raises ValueError naming the bad field
        return value

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        prompt: Prompt,
        *,
        task: Any,
        renderer: str = "paper",
        model_spec: str | None = None,
        sampling: Sampling | None = None,
        scores: Sequence[ScoreRecord] = (),
        token_length: TokenLengthRecord | None = None,
        provenance: ProvenanceRecord | None = None,
    ) -> "Artifact":
        """An artifact for ``prompt`` on a :class:`promptopt.tasks.Task`."""
        return cls(
            prompt=PromptRecord.model_validate(prompt.to_dict()),
            prompt_hash=prompt.hash,
            renderer=renderer,
            task=TaskRecord(
                name=task.name,
                fingerprint=task.fingerprint(),
                input_fields=list(task.input_fields),
                input_template=task.input_template,
                description=task.description,
            ),
            parser=task.parser.spec(),
            metric=task.metric.name,
            model=(
                ModelRecord(spec=model_spec, sampling=SamplingRecord(**(sampling or Sampling()).to_dict()))
                if model_spec
                else None
            ),
            scores=list(scores),
            token_length=token_length,
            provenance=provenance,
        )

    # -- files ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The artifact file's text, secrets masked (a model spec may carry URL credentials)."""
        from promptopt.redact import redact

        data = self.model_dump(mode="json")
        return redact(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the file atomically (a reader sees the old artifact or the new one)."""
        from promptopt.runs import write_atomically

        text = self.to_json().encode("utf-8")
        return write_atomically(Path(path), lambda handle: handle.write(text))

    @classmethod
    def from_json(cls, text: str, *, source: str = "<artifact>") -> "Artifact":
        try:
            data = jsonio.loads(text)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ArtifactError(f"{source}: an artifact is a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if type(version) is not int or version < 1:  # bool is an int subclass: `true` is no version
            raise ArtifactError(
                f"{source}: field 'schema_version' must be a positive integer (this promptopt writes "
                f"{SCHEMA_VERSION}), got {json.dumps(version)}"
            )
        if version > SCHEMA_VERSION:
            raise ArtifactError(
                f"{source}: schema_version {version} was written by a newer promptopt; promptopt "
                f"{__version__} reads schema_version {SCHEMA_VERSION}. Upgrade promptopt to load it."
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"field '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors()
            )
            raise ArtifactError(f"{source}: invalid artifact: {problems}") from None

    @classmethod
    def load(cls, path: str | Path) -> "Artifact":
        source = Path(path)
        try:
            text = source.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ArtifactError(f"{source}: no such artifact file") from None
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        return cls.from_json(text, source=str(source))

    # -- views ---------------------------------------------------------------------------------
    def to_prompt(self) -> Prompt:
        return Prompt.from_dict(self.prompt.model_dump())

    def sampling(self) -> Sampling:
        return Sampling.from_dict(self.model.sampling.model_dump()) if self.model else Sampling()


class LoadedPrompt:
    """An artifact ready to use in an application: render, parse, run."""

    def __init__(self, artifact: Artifact) -> None:
        from promptopt.tasks.parsers import parser_from_spec
        from promptopt.tasks.task import check_template

        self.artifact = artifact
        self.prompt = artifact.to_prompt()
        self.parser = parser_from_spec(artifact.parser)
        if artifact.task.input_template is not None:
            try:
                check_template(artifact.task.input_template, artifact.task.input_fields)
            except ValueError as exc:
                raise ArtifactError(f"field 'task.input_template': {exc}") from None

    def render_input(self, inputs: str | Mapping[str, str]) -> str:
        from promptopt.tasks.task import render_inputs

        if isinstance(inputs, str):
            fields = self.artifact.task.input_fields
            if len(fields) != 1:
                raise ValueError(f"this prompt takes several inputs: pass a mapping with {fields}")
            inputs = {fields[0]: inputs}
        return render_inputs(inputs, self.artifact.task.input_fields, self.artifact.task.input_template)

    def messages(self, inputs: str | Mapping[str, str]) -> list[dict[str, str]]:
        """OpenAI-style chat messages for one input (a string, or a mapping of input fields)."""
        return [m.to_dict() for m in self._messages(inputs)]

    def _messages(self, inputs: str | Mapping[str, str]) -> tuple[Message, ...]:
        return self.prompt.render(self.render_input(inputs), self.artifact.renderer)

    def request(self, inputs: str | Mapping[str, str]) -> ChatRequest:
        return self.artifact.sampling().request(self._messages(inputs))

    def parse(self, text: str) -> ParsedAnswer:
        """The answer in ``text`` (a ParsedAnswer: ``.value``, ``.ok``, ``.error``)."""
        return self.parser.parse(text)

    async def arun(self, inputs: str | Mapping[str, str], model: Any = None) -> "PromptRun":
        """Run on a model: ``model`` is an LLMClient, a spec string, or None for the artifact's."""
        from promptopt.llm.client import LLMClient
        from promptopt.llm.connection import connect

        if isinstance(model, LLMClient):
            client, owned = model, False
        else:
            spec = model or (self.artifact.model.spec if self.artifact.model else None)
            if spec is None:
                raise ValueError("this artifact names no model: pass model='local' or another spec")
            client, owned = connect(spec), True
        try:
            response = await client.complete_one(self.request(inputs))
        finally:
            if owned:
                await client.aclose()
        answer = self.parse(response.text) if response.ok else None
        return PromptRun(response=response, answer=answer)

    def run(self, inputs: str | Mapping[str, str], model: Any = None) -> "PromptRun":
        """Blocking :meth:`arun` for scripts (not inside a running event loop)."""
        import asyncio

        return asyncio.run(self.arun(inputs, model))


@dataclass(frozen=True)
class PromptRun:
    """One run of a loaded prompt: the raw response and the parsed answer (None on error)."""

    response: ChatResponse
    answer: ParsedAnswer | None

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def value(self) -> str | None:
        return self.answer.value if self.answer is not None and self.answer.ok else None


def load(path: str | Path) -> LoadedPrompt:
    """Load a prompt artifact for use: ``promptopt.load("prompts/sentiment.json")``."""
    return LoadedPrompt(Artifact.load(path))
