"""The report of one run directory: what was asked, what happened each generation, what it cost,
where the best prompt came from, who the races eliminated, the front, and for MPO the rubric.

Everything comes from the run's own files (``config.json``, ``journal.jsonl``, ``summary.json``,
``rubrics/``, and ``test.json`` when ``promptopt compare ... --json`` wrote one there): the report
sends no request and changes nothing in the directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from promptopt.errors import PromptoptError
from promptopt.report import html as h
from promptopt.runs import RunDir

#: What ``promptopt compare A B --json`` printed, saved in the run directory (optional).
TEST_FILE = "test.json"


@dataclass(frozen=True)
class RunFiles:
    """A run directory as read: settings, journal events, summary (None for an unfinished run)."""

    path: Path
    config: dict[str, Any]
    events: list[dict[str, Any]]
    summary: dict[str, Any] | None
    test: dict[str, Any] | None

    @classmethod
    def read(cls, path: Path) -> RunFiles:
        run = RunDir(path, create=False, flag="RUN_DIR")
        config = run.read_config()
        events = run.events()
        summary = _json_file(run.summary_path) if run.summary_path.exists() else None
        test = _json_file(path / TEST_FILE) if (path / TEST_FILE).exists() else None
        return cls(path, config, events, summary, test)

    def of(self, *names: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] in names]

    def candidates(self) -> dict[str, dict[str, Any]]:
        return {e["candidate"]: e for e in self.of("candidate")}


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PromptoptError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise PromptoptError(f"{path}: expected a JSON object")
    return data


def prompt_text(prompt: Mapping[str, Any]) -> str:
    """A stored prompt as the downstream model reads it (instruction, then the examples)."""
    blocks = [str(prompt.get("instruction", ""))]
    blocks += [f"Input:\n{e.get('input', '')}\nOutput:\n{e.get('output', '')}" for e in prompt.get("examples", [])]
    return "\n\n".join(blocks)


def render_run(run: RunFiles) -> str:
    """The whole page for one run directory."""
    config, summary = run.config, run.summary or {}
    title = f"{config.get('optimizer', '?')} on {config.get('task', '?')} (seed {config.get('seed', '?')})"
    parts = [f"<h1>{h.esc(title)}</h1><p class=\"muted\">{h.esc(run.path)}</p>", _outcome(run)]
    parts.append(h.section("Settings", f"<details><summary>{len(config)} settings (the run's config.json)</summary>"
                                       f"{_settings(config)}</details>"))
    parts.append(h.section("Score per generation", _scores(run)))
    parts.append(h.section("Spend per generation", _spend(run)))
    if summary.get("preflight"):
        parts.append(h.section("Preflight estimate vs actual", _preflight(summary["preflight"])))
    parts.append(h.section("Lineage of the best prompt", _lineage(run), anchor="lineage"))
    parts.append(h.section("Racing", _racing(run), anchor="racing"))
    parts.append(h.section("Pareto front", _front(run), anchor="front"))
    if run.test:
        parts.append(h.section("Initial vs best on test", _test(run.test), anchor="test"))
    if run.of("rubric", "rubric_accepted", "rubric_refused", "rubric_unchanged"):
        parts.append(h.section("Rubric versions (MPO)", _rubrics(run), anchor="rubrics"))
    return h.page(title, "".join(parts))


def _outcome(run: RunFiles) -> str:
    summary = run.summary
    if summary is None:
        stops = run.of("stop")
        state = stops[-1]["reason"] if stops else "the run has not finished (no summary.json yet)"
        return h.section("Outcome", f"<p>{h.esc(state)}</p>")
    best = summary["best"]
    candidates = run.candidates()
    prompt = candidates.get(best["candidate"], {}).get("prompt", {"instruction": best["instruction"], "examples": []})
    total = sum(role.get("total_tokens", 0) for role in summary.get("spend", {}).values())
    usd = [role.get("usd") for role in summary.get("spend", {}).values()]
    cost = "unknown" if any(u is None for u in usd) else f"${sum(usd):,.4f}"
    kpis = [("best dev score", f"{best['dev_score']:.3f}"),
            ("95% interval", f"{best['dev_low']:.3f}–{best['dev_high']:.3f} (n={best['dev_n']})"),
            ("prompt tokens", best["tokens"]), ("generations", summary["generations"]),
            ("candidates", summary["candidates"]), ("tokens spent", f"{total:,}"), ("USD", cost)]
    body = "".join(f'<span class="kpi">{h.esc(k)}<b>{h.esc(v)}</b></span>' for k, v in kpis)
    body += f"<p>stopped: {h.esc(summary['stop_reason'])}</p>"
    body += f'<h3>Best prompt</h3><pre id="best-prompt">{h.esc(prompt_text(prompt))}</pre>'
    initial = candidates.get(summary.get("best_initial", ""), {}).get("prompt")
    if initial is not None:
        body += f'<h3>Best initial prompt</h3><pre id="initial-prompt">{h.esc(prompt_text(initial))}</pre>'
    return h.section("Outcome", body)


def _settings(config: Mapping[str, Any]) -> str:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key == "config" and isinstance(value, dict):
            for name, inner in value.items():
                flat[f"config.{name}"] = json.dumps(inner) if isinstance(inner, (dict, list)) else inner
        else:
            flat[key] = json.dumps(value) if isinstance(value, (dict, list)) else value
    return h.key_values(flat)


def _generation_scores(run: RunFiles) -> list[tuple[int, float, int]]:
    """(generation, best dev score, new candidates): generation 0 from the initial block."""
    rows = []
    initial = [e for e in run.of("evaluation") if e.get("generation") == 0 and e.get("scores")]
    if initial:
        rows.append((0, max(initial[0]["scores"].values()), len(initial[0]["scores"])))
    rows += [(e["generation"], e["best_score"], e["new_candidates"]) for e in run.of("generation")]
    return rows


def _scores(run: RunFiles) -> str:
    rows = _generation_scores(run)
    chart = h.line_chart({"best dev score": [(g, s) for g, s, _ in rows]}, x_label="generation", y_label="score")
    return chart + h.table(("generation", "best dev score", "new candidates"),
                           [(g, f"{s:.3f}", n) for g, s, n in rows], numeric=(0, 1, 2))


def _spend_rows(run: RunFiles) -> list[tuple[int, dict[str, dict[str, Any]]]]:
    """(generation, spend per role in that generation), from the journal's cumulative spend notes."""
    by_generation: dict[int, dict[str, Any]] = {}
    for event in run.of("spend"):
        by_generation[int(event["generation"])] = event["usage"]  # the last note of a generation
    rows, before = [], {}
    for generation in sorted(by_generation):
        usage = by_generation[generation]
        delta = {}
        for role, now in usage.items():
            then = before.get(role, {})
            delta[role] = {k: (now.get(k) or 0) - (then.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "requests")}
            delta[role]["usd"] = None if now.get("usd") is None else now["usd"] - (then.get("usd") or 0.0)
        rows.append((generation, delta))
        before = usage
    return rows


def _spend(run: RunFiles) -> str:
    rows = _spend_rows(run)
    bars = [(str(g), {role: d["prompt_tokens"] + d["completion_tokens"] for role, d in roles.items()}) for g, roles in rows]
    names = sorted({role for _, roles in rows for role in roles})
    table_rows = []
    for generation, roles in rows:
        cells: list[Any] = [generation]
        for role in names:
            d = roles.get(role, {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0})
            cells += [d["requests"], f"{d['prompt_tokens'] + d['completion_tokens']:,}"]
        usd = [d["usd"] for d in roles.values()]
        cells.append("unknown" if any(u is None for u in usd) else f"${sum(usd):,.4f}")
        table_rows.append(cells)
    headers = ["generation", *(f"{role} {what}" for role in names for what in ("requests", "tokens")), "USD"]
    return (h.stacked_bars(bars, y_label="tokens per generation")
            + h.table(headers, table_rows, numeric=tuple(range(len(headers) - 1))))


def _preflight(report: Mapping[str, Any]) -> str:
    estimate, actual = report["estimate"], report["actual"]
    first = estimate["initial"]
    rows = [("generation 0", first["requests"], actual["initial"]["requests"],
             f"{first['tokens_low']:,}–{first['tokens_high']:,}", f"{actual['initial']['tokens']:,}")]
    per = actual.get("per_generation")
    if per:
        low, high = estimate["generation_low"], estimate["generation_high"]
        rows.append((f"later generations (mean of {actual['generations']})", f"{low['requests']}–{high['requests']}",
                     per["requests"], f"{low['tokens_low']:,}–{high['tokens_high']:,}", f"{per['tokens']:,.0f}"))
    return h.table(("stage", "requests estimated", "requests sent", "tokens estimated", "tokens spent"), rows)


def _lineage(run: RunFiles) -> str:
    summary = run.summary
    if summary is None:
        return '<p class="muted">no best prompt yet</p>'
    candidates = run.candidates()
    chain, seen, queue = [], set(), [summary["best"]["candidate"]]
    while queue:  # every ancestor once, then shown oldest first
        cid = queue.pop(0)
        if cid in seen or cid not in candidates:
            continue
        seen.add(cid)
        chain.append(candidates[cid])
        queue.extend(candidates[cid].get("parents", []))
    chain.sort(key=lambda e: (e["generation"], e["seq"]))
    rows = []
    for event in chain:
        parents = event.get("parents", [])
        instruction = event["prompt"].get("instruction", "")
        first = candidates.get(parents[0]) if parents else None
        change = h.word_diff(first["prompt"].get("instruction", ""), instruction) if first else h.esc(instruction)
        rows.append((event["generation"], event["candidate"], event["operator"], ", ".join(parents) or "–",
                     len(event["prompt"].get("examples", [])), event.get("tokens", ""), change))
    note = ('<p class="muted">Every ancestor of the best prompt, oldest first; the instruction is shown as a word '
            'diff against its first parent (<del>removed</del>, <ins>added</ins>).</p>')
    return note + h.table(("generation", "candidate", "operator", "parents", "examples", "tokens", "instruction"),
                          rows, ident="lineage-table", numeric=(0, 4, 5), raw=(6,))


def _racing(run: RunFiles) -> str:
    config = run.config.get("config", {})
    config = config.get("search", config)  # MPO: the search's settings
    test = f"{config.get('racing_test', '?')} at alpha {config.get('alpha', '?')}" if "alpha" in config else "none"
    eliminations = run.of("elimination")
    rows = [(e["generation"], e["candidate"], e["block"] + 1, len(e.get("beaten_by", [])),
             ", ".join(e.get("beaten_by", [])[:4]) + (" …" if len(e.get("beaten_by", [])) > 4 else ""))
            for e in eliminations]
    survivors = [(e["generation"], len(e["candidates"]), e.get("block_evaluations", "–"),
                  e.get("full_block_evaluations", "–")) for e in run.of("survivors")]
    body = f"<p>Test: {h.esc(test)}. A candidate is out once it is significantly worse than enough others.</p>"
    if not rows:
        body += '<p class="muted">No candidate was eliminated by a race (this optimizer scores every candidate on every block).</p>'
    body += h.table(("generation", "eliminated", "after blocks", "beaten by (count)", "beaten by"), rows,
                    ident="racing-table", numeric=(0, 2, 3))
    body += "<h3>Survivors per generation</h3>" + h.table(
        ("generation", "survivors", "block evaluations", "without racing"), survivors, numeric=(0, 1, 2, 3))
    return body


def _front(run: RunFiles) -> str:
    summary = run.summary
    if summary is None:
        return '<p class="muted">the front is written when the run finishes</p>'
    candidates = run.candidates()
    points, rows = [], []
    for rank, point in enumerate(summary.get("front", []), start=1):
        text = prompt_text(candidates.get(point["candidate_id"], {}).get("prompt", {}))
        points.append((float(point["tokens"]), float(point["score"]), f"#{rank} score {point['score']:.3f}, "
                       f"{point['tokens']} tokens\n{text}"))
        completion = point.get("completion_tokens")
        rows.append((rank, point["candidate_id"], f"{point['score']:.3f}", point["tokens"],
                     "–" if completion is None else f"{completion:.1f}", text))
    chart = h.scatter(points, x_label="prompt tokens", y_label="dev score")
    return chart + h.table(("rank", "candidate", "dev score", "prompt tokens", "completion tokens/example", "prompt"),
                           rows, ident="front-table", numeric=(0, 2, 3, 4))


def _test(test: Mapping[str, Any]) -> str:
    rows = []
    for name in ("a", "b"):
        side = test.get(name, {})
        rows.append((name.upper(), side.get("prompt_hash", ""), f"{side.get('score', float('nan')):.3f}",
                     f"{side.get('low', float('nan')):.3f}–{side.get('high', float('nan')):.3f}", side.get("n", "")))
    body = (f"<p>{h.esc(test.get('task', ''))}, split {h.esc(test.get('split', ''))}, model {h.esc(test.get('model', ''))}</p>"
            + h.table(("", "prompt", "score", "95% interval", "examples"), rows, numeric=(2, 4)))
    if "difference" in test:
        body += (f"<p>A − B = {test['difference']:+.3f} (95% CI {test['low']:+.3f} to {test['high']:+.3f}), "
                 f"paired bootstrap p = {test.get('p_bootstrap', float('nan')):.4f}, {test.get('n', '?')} examples</p>")
    return body


def _rubrics(run: RunFiles) -> str:
    rows = []
    for event in run.of("rubric_accepted", "rubric_refused", "rubric_unchanged"):
        gate = event.get("gate") or {}
        failed = [c["name"] + (f" ({c['detail']})" if c.get("detail") else "")
                  for c in gate.get("checks", []) if not c.get("passed") and not c.get("skipped")]
        outcome = event.get("outcome", event["event"])
        css = "ok" if outcome == "accepted" else ("bad" if outcome == "refused" else "muted")
        rows.append((event.get("generation", ""), f'<span class="{css}">{h.esc(outcome)}</span>',
                     gate.get("candidate_version", "–"), h.esc(event.get("detail", "")), h.esc("; ".join(failed) or "–")))
    versions = []
    for path in sorted((run.path / "rubrics").glob("v*.json")):
        rubric = _json_file(path)
        items = "".join(f"<li><b>{h.esc(i.get('name'))}</b> (max {h.esc(i.get('max'))}): {h.esc(i.get('description'))}</li>"
                        for i in rubric.get("items", []))
        versions.append(f"<h3>{h.esc(path.stem)} <span class=\"muted\">({h.esc(rubric.get('origin', ''))})</span></h3><ul>{items}</ul>")
    return (h.table(("generation", "outcome", "candidate version", "detail", "failed checks"), rows,
                    ident="rubric-table", raw=(1, 3, 4)) + "".join(versions))
