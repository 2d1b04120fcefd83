"""race() with a deterministic fake evaluate: who is dropped, what is paid, how survivors rank."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import pytest

from promptopt.racing import BlockEvent, RaceResult, ScoreBook, make_blocks, race


class FakeEvaluate:
    """True per-example scores per candidate; answers the slice of the requested block."""

    def __init__(self, truth: Mapping[str, Sequence[float]], blocks: Sequence[Sequence[int]]) -> None:
        self.truth = {cid: np.asarray(s, dtype=float) for cid, s in truth.items()}
        self.blocks = blocks
        self.calls: list[tuple[tuple[str, ...], int]] = []
        self.per_pair: Counter[tuple[str, int]] = Counter()

    async def __call__(self, ids: list[str], block: int) -> dict[str, list[float]]:
        assert ids, "evaluate must not be called with an empty list"
        await asyncio.sleep(0)
        self.calls.append((tuple(ids), block))
        self.per_pair.update((cid, block) for cid in ids)
        index = list(self.blocks[block])
        return {cid: self.truth[cid][index].tolist() for cid in ids}

    def blocks_seen(self, cid: str) -> list[int]:
        return sorted(b for (c, b) in self.per_pair if c == cid)


def _binary(seed: int, p: float, n: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


def _sequential_blocks(n_blocks: int, size: int) -> list[tuple[int, ...]]:
    return [tuple(range(b * size, (b + 1) * size)) for b in range(n_blocks)]


async def test_clearly_bad_candidates_go_after_the_first_block() -> None:
    blocks = make_blocks(200, 20, seed=42)
    truth = {f"good{i}": _binary(i, 0.85, 200) for i in range(4)}
    truth |= {"bad0": np.zeros(200), "bad1": _binary(99, 0.05, 200)}
    fake = FakeEvaluate(truth, blocks)
    events: list[BlockEvent] = []
    result = await race(list(truth), blocks=blocks, evaluate=fake, book=ScoreBook(), keep=3, on_block=events.append)

    dropped = {e.cid: e for e in result.eliminated}
    assert dropped["bad0"].block == 0 and dropped["bad1"].block == 0
    assert dropped["bad0"].candidate_id == "bad0"
    assert set(dropped["bad0"].beaten_by) >= {"good0", "good1", "good2", "good3"}
    assert fake.blocks_seen("bad0") == [0] and fake.blocks_seen("bad1") == [0]
    assert set(result.survivors) <= {f"good{i}" for i in range(4)} and len(result.survivors) == 3
    assert events[0] == BlockEvent(block=0, alive=4, eliminated=("bad0", "bad1"), evaluated=6)
    assert [e.block for e in events] == list(range(result.blocks_used))
    assert fake.calls[0] == (tuple(truth), 0)


async def test_each_block_is_evaluated_once_across_races_sharing_a_book() -> None:
    blocks = make_blocks(150, 15, seed=1)
    truth = {f"c{i}": _binary(10 + i, 0.3 + 0.06 * i, 150) for i in range(10)}
    fake = FakeEvaluate(truth, blocks)
    book = ScoreBook()
    first = await race([f"c{i}" for i in range(6)], blocks=blocks, evaluate=fake, book=book, keep=2)
    after_first = len(fake.calls)
    had = {cid: set(book.blocks_of(cid)) for cid in first.survivors}
    assert all(had.values())
    second = await race(
        [*first.survivors, "c6", "c7", "c8", "c9"], blocks=blocks, evaluate=fake, book=book, keep=2
    )
    assert set(fake.per_pair.values()) == {1}
    assert book.evaluations == sum(fake.per_pair.values()) == first.evaluations + second.evaluations
    for ids, block in fake.calls[after_first:]:  # carried-over blocks were not asked for again
        assert not any(block in had.get(cid, set()) for cid in ids)


async def test_survivors_ranked_by_mean_unpenalized_score() -> None:
    blocks = _sequential_blocks(3, 10)
    truth = {"mid": np.full(30, 0.5), "top": np.full(30, 0.7), "low": np.full(30, 0.3)}
    truth = {cid: s + np.tile(np.linspace(-0.2, 0.2, 10), 3) for cid, s in truth.items()}
    fake = FakeEvaluate(truth, blocks)
    # "never": constant differences separate nobody, so all blocks are raced and the ranking decides;
    # the best candidate has the largest penalty: ranking ignores it
    result = await race(
        ["mid", "top", "low"], blocks=blocks, evaluate=fake, book=ScoreBook(), keep=2,
        penalty={"mid": 0.0, "top": 0.04, "low": 0.0}, zero_variance="never",
    )
    assert result.survivors == ("top", "mid") and result.cut == ("low",) and result.eliminated == ()
    assert result.survivor_means == pytest.approx((0.7, 0.5))
    assert result.blocks_used == 3


async def test_equal_evidence_changes_the_ranking() -> None:
    blocks = _sequential_blocks(4, 10)
    block0_old = [1.0] * 7 + [0.0] * 3
    old = np.array(block0_old * 4)  # 0.7 on every block
    new = np.array([1.0] * 8 + [0.0] * 2 + ([1.0] * 5 + [0.0] * 5) * 3)  # 0.8 on block 0, then 0.5
    truth = {"old": old, "new": new, "bad": np.zeros(40)}

    async def run(equal: bool) -> tuple[RaceResult, FakeEvaluate, ScoreBook]:
        book = ScoreBook()
        for b in range(4):  # the incumbent survived an earlier race on all four blocks
            book.record("old", b, old[b * 10 : (b + 1) * 10])
        fake = FakeEvaluate(truth, blocks)
        result = await race(["old", "new", "bad"], blocks=blocks, evaluate=fake, book=book, keep=2, equal_evidence=equal)
        return result, fake, book

    paper, fake_paper, _ = await run(False)
    assert paper.blocks_used == 1 and [e.cid for e in paper.eliminated] == ["bad"]
    assert paper.survivors == ("new", "old")  # 0.8 on one block beats 0.7 on four
    assert fake_paper.blocks_seen("new") == [0] and paper.evaluations == 2

    fair, fake_fair, book = await run(True)
    assert fair.survivors == ("old", "new")  # 0.7 vs 0.575 on the same four blocks
    assert fair.survivor_means == pytest.approx((0.7, 0.575))
    assert fake_fair.blocks_seen("new") == [0, 1, 2, 3] and fake_fair.blocks_seen("old") == []
    assert fair.evaluations == 2 + 3 and fair.full_evaluations == 12
    assert book.blocks_of("new") == [0, 1, 2, 3]


async def test_equal_evidence_stays_within_the_race_block_limit() -> None:
    blocks = _sequential_blocks(4, 5)
    truth = {"a": np.ones(20), "b": np.ones(20)}
    book = ScoreBook()
    for b in range(4):
        book.record("a", b, np.ones(5))
    fake = FakeEvaluate(truth, blocks)
    result = await race(["a", "b"], blocks=blocks, evaluate=fake, book=book, keep=2, max_blocks=2)
    assert result.blocks_used == 0  # nothing to race: two candidates, keep two
    assert fake.blocks_seen("b") == [0, 1] and result.evaluations == 2 and result.full_evaluations == 4
    assert result.survivors == ("a", "b")


async def test_length_penalty_breaks_a_tie_shorter_wins() -> None:
    blocks = _sequential_blocks(3, 10)
    same = _binary(5, 0.6, 30)
    truth = {"long": same, "short": same.copy()}
    penalty = {"long": 0.05, "short": 0.01}  # gamma * L / L_max, computed by the caller

    fake = FakeEvaluate(truth, blocks)
    raced = await race(["long", "short"], blocks=blocks, evaluate=fake, book=ScoreBook(), keep=1, penalty=penalty)
    assert raced.survivors == ("short",)
    assert raced.eliminated[0].cid == "long" and raced.eliminated[0].beaten_by == ("short",)
    assert raced.blocks_used == 1 and raced.evaluations == 2

    # under "never" the test cannot separate them; the ranking tie-break still prefers the shorter
    fake = FakeEvaluate(truth, blocks)
    ranked = await race(
        ["long", "short"], blocks=blocks, evaluate=fake, book=ScoreBook(), keep=1, penalty=penalty, zero_variance="never"
    )
    assert ranked.eliminated == () and ranked.survivors == ("short",) and ranked.cut == ("long",)
    assert ranked.blocks_used == 3

    # equal score, equal penalty: the earlier candidate id wins
    fake = FakeEvaluate(truth, blocks)
    tied = await race(["long", "short"], blocks=blocks, evaluate=fake, book=ScoreBook(), keep=1, zero_variance="never")
    assert tied.survivors == ("long",)


async def test_counters_on_a_hand_computed_case() -> None:
    blocks = _sequential_blocks(3, 10)
    truth = {"a": np.ones(30), "b": np.ones(30), "c": np.zeros(30), "d": np.zeros(30)}
    fake = FakeEvaluate(truth, blocks)
    result = await race(list(truth), blocks=blocks, evaluate=fake, book=ScoreBook(), keep=2)
    # block 0: 4 evaluations; c and d are beaten by a and b (constant difference 1, "sign")
    assert [e.cid for e in result.eliminated] == ["c", "d"]
    assert result.survivors == ("a", "b")
    assert (result.blocks_used, result.evaluations, result.full_evaluations) == (1, 4, 12)
    assert result.saved == pytest.approx(1 - 4 / 12)

    capped = await race(list(truth), blocks=blocks, evaluate=FakeEvaluate(truth, blocks), book=ScoreBook(), keep=2, max_blocks=2)
    assert (capped.evaluations, capped.full_evaluations) == (4, 8) and capped.saved == pytest.approx(0.5)

    # nobody separable: every candidate on every block, nothing saved
    flat = {cid: np.tile([1.0, 0.0], 15) for cid in "abcd"}
    full = await race(list(flat), blocks=blocks, evaluate=FakeEvaluate(flat, blocks), book=ScoreBook(), keep=2)
    assert (full.blocks_used, full.evaluations, full.full_evaluations, full.saved) == (3, 12, 12, 0.0)
    assert full.survivors == ("a", "b") and full.cut == ("c", "d")


async def test_race_is_deterministic() -> None:
    blocks = make_blocks(100, 10, seed=3)
    truth = {f"c{i}": _binary(i, 0.4 + 0.05 * i, 100) for i in range(8)}
    outcomes = []
    for _ in range(2):
        result = await race(list(truth), blocks=blocks, evaluate=FakeEvaluate(truth, blocks), book=ScoreBook(), keep=3)
        outcomes.append(result)
    assert outcomes[0] == outcomes[1]


async def test_wilcoxon_race_runs() -> None:
    blocks = make_blocks(120, 12, seed=0)
    truth = {f"g{i}": _binary(i, 0.9, 120) for i in range(3)} | {"b": _binary(50, 0.1, 120)}
    result = await race(list(truth), blocks=blocks, evaluate=FakeEvaluate(truth, blocks), book=ScoreBook(), keep=3, test="wilcoxon")
    assert [e.cid for e in result.eliminated] == ["b"] and result.blocks_used == 1


async def test_errors_say_what_is_wrong() -> None:
    blocks = _sequential_blocks(2, 4)
    truth = {"a": np.ones(8), "b": np.zeros(8)}
    fake = FakeEvaluate(truth, blocks)
    with pytest.raises(ValueError, match="unique"):
        await race(["a", "a"], blocks=blocks, evaluate=fake, book=ScoreBook(), keep=1)
    with pytest.raises(ValueError, match="penalty"):
        await race(["a", "b"], blocks=blocks, evaluate=fake, book=ScoreBook(), keep=1, penalty={"a": 0.1})
    with pytest.raises(ValueError, match="keep"):
        await race(["a", "b"], blocks=blocks, evaluate=fake, book=ScoreBook(), keep=0)

    async def forgetful(ids: list[str], block: int) -> dict[str, list[float]]:
        return {ids[0]: [1.0] * 4}

    with pytest.raises(ValueError, match="missing"):
        await race(["a", "b"], blocks=blocks, evaluate=forgetful, book=ScoreBook(), keep=1)

    async def short(ids: list[str], block: int) -> dict[str, list[float]]:
        return {cid: [1.0] for cid in ids}

    with pytest.raises(ValueError, match="examples"):
        await race(["a", "b"], blocks=blocks, evaluate=short, book=ScoreBook(), keep=1)
    assert fake.calls == []


async def test_never_fewer_than_keep_remain() -> None:
    blocks = _sequential_blocks(2, 5)
    truth = {"a": np.full(10, 0.2), "b": np.full(10, 0.9), "c": np.full(10, 0.5), "d": np.full(10, 0.9)}

    def everyone_beats_everyone(differences: np.ndarray) -> np.ndarray:  # an intransitive test
        return np.zeros(len(differences))

    result = await race(
        list(truth), blocks=blocks, evaluate=FakeEvaluate(truth, blocks), book=ScoreBook(), keep=2,
        test=everyone_beats_everyone, penalty={"a": 0.0, "b": 0.1, "c": 0.0, "d": 0.0},
    )
    # all four are beaten by three others; the strongest by penalized mean are kept back
    assert result.survivors == ("d", "b") and sorted(e.cid for e in result.eliminated) == ["a", "c"]


async def test_book_from_other_blocks_is_refused() -> None:
    blocks = _sequential_blocks(2, 5)
    book = ScoreBook()
    book.record("a", 0, [1.0, 0.0, 1.0])
    truth = {"a": np.ones(10), "b": np.ones(10)}
    with pytest.raises(ValueError, match="other blocks"):
        await race(["a", "b"], blocks=blocks, evaluate=FakeEvaluate(truth, blocks), book=book, keep=1)
