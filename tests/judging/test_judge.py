"""The rubric judge on the loopback server: guards, retries, error records, evaluation hook."""

from __future__ import annotations

import json

import world
from promptopt.judging import brief_summary

from promptopt.evaluation import evaluate
from promptopt.judging.judge_setup import build_judge, judged_task
from promptopt.prompt import Prompt


def _judge_policy(answers):
    """A judge that answers from ``answers(first_user_message, n_user_messages)``; counts calls."""
    calls: list[int] = []

    def policy(request):
        users = [c for r, c in request.messages if r == "user"]
        if request.messages[0][1] == world.JUDGE_SYSTEM:
            calls.append(len(users))
            return answers(users[0], len(users))
        return world.make_policy()(request)

    return policy, calls


async def test_malformed_judge_answer_is_retried_then_becomes_an_error_record(server_factory, client_for):
    task = brief_summary.load()
    example = task.dev[0]
    parts = brief_summary.passage_parts(task.render_input(example))
    good, bad = brief_summary.brief_answer(parts), brief_summary.vague_answer(parts)

    def answers(user, n_users):
        if "known for its" in world._between(user, "<output>\n", "\n</output>"):  # the brief output
            return world.judge_answer(user) if n_users == 2 else "Score: pretty good!"
        return "I would give it a seven."  # never parses, not even on the retry

    policy, calls = _judge_policy(answers)
    server = server_factory(policy=policy)
    judge = build_judge(task, client_for(server, role="judge"))
    first, second = await judge.verdicts([good, bad], [example, example])
    assert first.ok and first.attempts == 2 and first.reward == 0.2  # the coverage rubric: 10 words
    assert second.error is not None and "after 2 attempts" in second.error and second.reward == 0.0
    assert sorted(calls) == [1, 1, 2, 2]  # one first try each, one retry each, in the same conversation

    # through evaluate(): the failure is counted as an error, not passed off as a low score
    prompt = Prompt("Write a vague summary.")
    downstream = client_for(server)

    def downstream_vague(request):
        if request.messages[0][1] == world.NEUTRAL_SYSTEM:
            return bad
        return policy(request)

    server.set_policy(downstream_vague)
    [result] = await evaluate([prompt], [example], judged_task(task, judge), downstream)
    assert result.errors == 1 and result.records[0].error.startswith("judge: ")
    assert result.scores == [0.0]


async def test_guards_answer_without_a_judge_call_and_verdicts_are_memoized(server_factory, client_for):
    task = brief_summary.load()
    example = task.dev[1]
    parts = brief_summary.passage_parts(task.render_input(example))
    policy, calls = _judge_policy(lambda user, n: world.judge_answer(user))
    server = server_factory(policy=policy)
    judge = build_judge(task, client_for(server, role="judge"))
    outputs = ["", task.render_input(example), "Dies ist eine gute Zusammenfassung über die Stadt und ihre Brücken.",
               brief_summary.padded_answer(parts)]
    verdicts = await judge.verdicts(outputs, [example] * 4)
    assert [v.guard for v in verdicts] == ["empty", "echo_input", "wrong_language", None]
    assert [v.reward for v in verdicts] == [0.0, 0.0, 0.0, 1.0]  # the hack fools the initial rubric
    assert len(calls) == 1
    again = await judge.verdicts(outputs[3:], [example])
    assert again == verdicts[3:] and len(calls) == 1
    assert json.loads(json.dumps(verdicts[3].to_dict()))["rubric_version"] == 1


async def test_a_judge_that_skips_items_is_asked_again_item_by_item(server_factory, client_for):
    # Qwen2.5-Coder-0.5B answered a six-item rubric with one entry, named after the passage's place
    from promptopt.judging.rubric import Rubric, RubricItem

    task = brief_summary.load()
    example = task.dev[0]
    rubric = Rubric(tuple(RubricItem(n, f"checks {n}", 10) for n in ("names_subject", "is_brief", "no_padding")),
                    version=3)
    asked: list[list[str]] = []

    def answers(user, n_users):
        asked.append([n for n in rubric.names if f"- {n} (max 10)" in user])
        if len(asked) == 1:
            return '{"items": [{"name": "names_subject", "score": 8, "rationale": "names it"}]}'
        return json.dumps({"items": [{"name": "Oshaven", "score": 4 if "is_brief" in asked[-1] else 6}]})

    policy, calls = _judge_policy(answers)
    judge = build_judge(task, client_for(server_factory(policy=policy), role="judge")).with_rubric(rubric)
    [verdict] = await judge.verdicts(["A short summary."], [example])
    assert verdict.ok and verdict.attempts == 2, verdict
    assert [i.name for i in verdict.items] == list(rubric.names) and [i.score for i in verdict.items] == [8, 4, 6]
    # the scored item is not asked again (the two retries are one concurrent batch: any order)
    assert asked[0] == list(rubric.names) and sorted(asked[1:]) == [["is_brief"], ["no_padding"]]
    assert calls == [1, 1, 1]  # fresh one-item conversations, not a continuation of the partial answer
    assert abs(verdict.reward - 18 / 30) < 1e-9

    # an answer with no usable entry at all: every item alone; one still missing -> an error record
    asked.clear()

    def unusable(user, n_users):
        asked.append([n for n in rubric.names if f"- {n} (max 10)" in user])
        return "I cannot grade this." if len(asked) in (1, 3) else '{"items": [{"name": "x", "score": 7}]}'

    policy, calls = _judge_policy(unusable)
    judge = build_judge(task, client_for(server_factory(policy=policy), role="judge")).with_rubric(rubric)
    [failed] = await judge.verdicts(["Another summary."], [example])
    assert asked[0] == list(rubric.names) and sorted(asked[1:]) == [[n] for n in sorted(rubric.names)]
    assert failed.error is not None and "after 2 attempts" in failed.error and failed.reward == 0.0


async def test_a_failed_judge_request_is_sent_once_more_whole(server_factory, client_for):
    # a transport failure says nothing about the judge: the same request again, not item by item
    from promptopt.judging.rubric import Rubric, RubricItem
    from promptopt.llm.retry import RetryPolicy
    from promptopt.testing.faults import FaultPlan

    task = brief_summary.load()
    rubric = Rubric(tuple(RubricItem(n, f"checks {n}", 10) for n in ("names_subject", "is_brief")), version=2)
    policy, calls = _judge_policy(lambda user, n: json.dumps({"items": [{"name": n, "score": 5} for n in rubric.names]}))
    server = server_factory(policy=policy, faults=FaultPlan(schedule=["500"]))
    client = client_for(server, role="judge", retry=RetryPolicy(max_attempts=1, initial_backoff_s=0.01))
    [verdict] = await build_judge(task, client).with_rubric(rubric).verdicts(["A summary."], [task.dev[0]])
    assert verdict.ok and verdict.attempts == 2 and verdict.reward == 0.5
    assert calls == [1] and server.stats().requests_total == 2  # the 500 never reached the policy


def test_verdicts_and_gate_decisions_keep_their_journal_layout():
    from promptopt.judging.gate import GateCheck, GateConfig, GateDecision
    from promptopt.judging.judge import ItemScore, Verdict

    verdict = Verdict(2 / 3, 2, (ItemScore("a", 3, 4, "why"),), attempts=1).to_dict()
    assert verdict == {"reward": 0.666667, "rubric_version": 2,
                       "items": [{"name": "a", "score": 3, "max": 4, "rationale": "why", "clipped": False}],
                       "guard": None, "error": None, "attempts": 1}
    checks = (GateCheck("shape", True, "ok", 3.0), GateCheck("anchors", False, "dropped", 0.1234567891),
              GateCheck("canaries", False, "skipped", skipped=True))
    decision = GateDecision(4, checks).to_dict()
    assert list(decision) == ["candidate_version", "accepted", "reasons", "checks"]
    assert decision["accepted"] is False and decision["reasons"] == ["anchors: dropped", "canaries: skipped"]
    assert [c["value"] for c in decision["checks"]] == [3.0, 0.123457, None]
    assert list(decision["checks"][0]) == ["name", "passed", "detail", "value", "skipped"]
    assert GateConfig().to_dict() == {"min_items": 3, "max_items": 12, "max_item_chars": 300, "max_total_chars": 2400,
                                      "canary_threshold": 0.35, "agreement_tolerance": 0.0, "leak_words": 6}
