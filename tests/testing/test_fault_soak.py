"""bench/faults.py at a tiny size, so that the soak cannot rot between the runs that matter."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SOAK = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


def _soak_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_faults", SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.asyncio
async def test_small_soak_loses_nothing_and_the_ledger_matches_the_server():
    soak = _soak_module()
    result = await soak.soak(60, in_flight=16, fault_share=0.3, seed=1, timeout_s=0.5)
    assert result.ok, (result.line(), result.details())
    assert result.answered + result.failed == 60 and result.lost == 0 and result.duplicated == 0
    assert sum(result.faults_injected.values()) > 0  # faults did happen
    assert result.ledger_requests == result.server_seen > 60
    assert result.ledger_retries == result.server_seen - 60  # every request reached the server
    assert sum(result.failed_by_kind.values()) == result.failed


def test_the_verdict_fails_on_a_ledger_server_mismatch_or_a_loss():
    soak = _soak_module()
    fine = soak.SoakResult(requests=10, answered=9, failed=1, lost=0, duplicated=0, wrong=0, server_seen=14,
                           ledger_requests=14, ledger_retries=4, ledger_retry_tokens=0)
    assert fine.ok and fine.line() == "requests=10 answered=9 failed=1 server_seen=14 lost=0"
    for broken in ({"ledger_requests": 10}, {"lost": 1, "answered": 8}, {"duplicated": 1}, {"wrong": 1}):
        fields = {**fine.__dict__, **broken}
        assert not soak.SoakResult(**fields).ok, broken


def test_the_soak_script_prints_its_summary_line_first_and_exits_zero():
    run = subprocess.run([sys.executable, str(SOAK), "--requests", "40", "--timeout", "0.5"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    first = run.stdout.splitlines()[0]
    assert re.fullmatch(r"requests=40 answered=\d+ failed=\d+ server_seen=\d+ lost=0", first), first
