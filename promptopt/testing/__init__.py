"""A loopback OpenAI-compatible test server with a vLLM-like capacity model and faults on demand.

    with TestServer(policy=echo(), config=ServerConfig(max_seqs=4), faults=FaultPlan()) as srv:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="x")
        ...
        assert srv.stats().completions_ok == 1

Or as a subprocess: ``python -m promptopt.testing serve --port 0 ...`` (prints ``READY URL``).
"""

from __future__ import annotations

from promptopt.testing.accounting import completion_tokens, prompt_tokens
from promptopt.testing.capacity import ServerConfig
from promptopt.testing.faults import FAULT_KINDS, FaultPlan, decide_fault, request_key
from promptopt.testing.policies import (
    POLICIES,
    Policy,
    PolicyReply,
    PolicyRequest,
    constant,
    echo,
    hashed,
    scripted,
)
from promptopt.testing.server import TestServer
from promptopt.testing.counters import ServerStats

__all__ = [
    "FAULT_KINDS",
    "POLICIES",
    "FaultPlan",
    "Policy",
    "PolicyReply",
    "PolicyRequest",
    "ServerConfig",
    "ServerStats",
    "TestServer",
    "completion_tokens",
    "constant",
    "decide_fault",
    "echo",
    "hashed",
    "prompt_tokens",
    "request_key",
    "scripted",
]
