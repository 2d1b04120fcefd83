"""The one method every backend implements."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from promptopt.llm.records import ChatRequest, ChatResponse, Usage


#: Error kind of a natively batched request whose serving process died before answering it.
#: The client sends such requests again, so a backend that returns this kind must bound its
#: restarts: start a new process, or raise a user-facing error when it cannot.
WORKER_DIED = "worker_died"


class TransientError(Exception):
    """A failure worth retrying (429, 5xx, timeout, dropped connection).

    ``retry_after`` carries the server's Retry-After in seconds when it sent one. The ledger
    charges every attempt that reached the server, so a backend says what it knows of this one:
    ``usage``, the tokens the server reported for it (a body with usage but no usable choice;
    usually None), and ``sent=False`` when the request provably never left (connection refused,
    unknown host), which costs nothing.
    """

    def __init__(
        self,
        message: str,
        kind: str,
        retry_after: float | None = None,
        *,
        usage: Usage | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after
        self.usage = usage
        self.sent = sent


class PermanentError(Exception):
    """A failure that retrying cannot fix (bad request, auth, unknown model)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@runtime_checkable
class Backend(Protocol):
    """Serves chat requests for one model.

    ``complete`` takes a batch and returns exactly one response per request, in order. Backends
    that serve one request per call (HTTP) get single-element batches from the client, which adds
    concurrency, limits, retries and caching around them; backends that batch natively (vLLM
    in-process, the embedded model) receive the whole batch.

    A backend raises :class:`TransientError` / :class:`PermanentError` for a request-level failure
    only when it serves single requests; batch backends put errors in the responses.
    """

    #: Identity of the model for cache keys: backend kind + model, never URL or key.
    model_identity: str
    #: True when ``complete`` should receive whole batches rather than single requests.
    native_batching: bool

    async def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        ...

    async def aclose(self) -> None:
        ...
