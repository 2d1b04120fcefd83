"""The race: score candidates block by block and drop the ones significantly beaten by many.

Evaluating every candidate on the whole dev set is the dominant cost of prompt optimization.
Racing (CAPO §5) spends evaluations only where the question is still open: after each block,
a candidate that at least ``keep`` others beat with a paired test can no longer be among the best
``keep``, so it is not evaluated further. Racing knows candidate ids and scores, nothing else.

(The module is ``racer``, not ``race``: a submodule named ``race`` would shadow the exported
``race()`` function on the package once imported.)
"""

from __future__ import annotations

import math
from typing import Awaitable, Callable, Mapping, Sequence, Union

import numpy as np

from promptopt.racing.book import ScoreBook
from promptopt.racing.paired import PairedTest, ZeroVariance, beats_matrix
from promptopt.racing.records import BlockEvent, Elimination, RaceResult

__all__ = ["Evaluate", "eliminate", "race"]

#: ``evaluate(candidate_ids, block_index)`` -> per-example scores of each requested id on that
#: block, in the block's example order.
Evaluate = Callable[[list[str], int], Awaitable[Mapping[str, Sequence[float]]]]


def eliminate(beats: np.ndarray, k: int) -> np.ndarray:
    """Which candidates to drop: those beaten by at least ``k`` others (column sums of ``beats``).

    With ``keep`` survivors wanted, a candidate that ``keep`` others beat can no longer rank in the
    top ``keep``.
    """
    matrix = np.asarray(beats, dtype=bool)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"beats must be a square matrix, got shape {matrix.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return matrix.sum(axis=0) >= k


def _spare(out: np.ndarray, beats: np.ndarray, strength: np.ndarray, keep: int) -> np.ndarray:
    """Never drop below ``keep`` candidates.

    Mean-consistent tests (the t-test, the zero-variance rules) cannot do it: the ``keep`` best by
    penalized mean are beaten by at most ``keep - 1`` others. A rank test can be intransitive,
    so the least-beaten, then strongest, then earliest eliminated candidates are kept back.
    """
    short = keep - int((~out).sum())
    if short <= 0:
        return out
    losers = np.flatnonzero(out)
    ordered = sorted(losers, key=lambda j: (int(beats[:, j].sum()), -float(strength[j]), int(j)))
    out = out.copy()
    out[ordered[:short]] = False
    return out


async def _fetch(
    evaluate: Evaluate, ids: list[str], block: int, size: int
) -> Mapping[str, Sequence[float]]:
    """Ask for the scores of ``ids`` on ``block`` and check the answer before anything is stored."""
    answer = await evaluate(list(ids), block)
    wanted = set(ids)
    missing = [cid for cid in ids if cid not in answer]
    extra = [cid for cid in answer if cid not in wanted]
    if missing or extra:
        raise ValueError(
            f"evaluate(ids, {block}) must return scores for exactly the requested ids: "
            f"missing {missing}, not requested {extra}"
        )
    for cid in ids:
        if len(answer[cid]) != size:
            raise ValueError(
                f"evaluate returned {len(answer[cid])} scores for {cid!r} on block {block}, "
                f"which has {size} examples"
            )
    return answer


def _record(book: ScoreBook, answer: Mapping[str, Sequence[float]], ids: list[str], block: int) -> None:
    for cid in ids:
        book.record(cid, block, answer[cid])


def _check_book(book: ScoreBook, ids: Sequence[str], blocks: Sequence[Sequence[int]], upto: int) -> None:
    """Scores from an earlier race must fit the blocks of this one (same partition of the dev set)."""
    for cid in ids:
        for block in book.blocks_of(cid):
            if block < upto and len(book.get(cid, block)) != len(blocks[block]):
                raise ValueError(
                    f"the score book has {len(book.get(cid, block))} scores for {cid!r} on block {block}, "
                    f"but that block has {len(blocks[block])} examples: the book belongs to other blocks"
                )


async def race(
    candidate_ids: Sequence[str],
    *,
    blocks: Sequence[Sequence[int]],
    evaluate: Evaluate,
    book: ScoreBook,
    keep: int,
    penalty: Mapping[str, float] | None = None,
    alpha: float = 0.2,
    max_blocks: int | None = None,
    test: Union[str, PairedTest] = "ttest",
    zero_variance: ZeroVariance = "sign",
    equal_evidence: bool = True,
    on_block: Callable[[BlockEvent], None] | None = None,
) -> RaceResult:
    """Race ``candidate_ids`` over ``blocks`` until at most ``keep`` remain or the blocks run out.

    For block i = 0, 1, … (at most ``max_blocks``): candidates still alive that ``book`` lacks on
    block i are evaluated (one ``evaluate`` call; nothing is ever re-scored); then on all blocks
    0..i the paired ``test`` compares penalized scores (score − ``penalty[cid]``) of every ordered
    pair, and every candidate beaten (p < ``alpha``) by at least ``keep`` others is eliminated.

    Survivors are the top ``keep`` by mean unpenalized score, ties broken by lower penalty, then by
    the order of ``candidate_ids``. With ``equal_evidence`` (default) the finalists are first
    evaluated on every block any of them has (below the race's block limit) and ranked on exactly
    those blocks; otherwise each is ranked on all blocks it has, as the CAPO reference does.
    A finalist without any score ranks last.
    """
    ids = list(candidate_ids)
    if len(set(ids)) != len(ids):
        duplicated = sorted({cid for cid in ids if ids.count(cid) > 1})
        raise ValueError(f"candidate ids must be unique; repeated: {duplicated}")
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    if not blocks:
        raise ValueError("race needs at least one block (see make_blocks)")
    if max_blocks is not None and max_blocks < 1:
        raise ValueError(f"max_blocks must be at least 1 (or None for all blocks), got {max_blocks}")
    limit = len(blocks) if max_blocks is None else min(max_blocks, len(blocks))
    penalties = {cid: 0.0 for cid in ids}
    if penalty is not None:
        missing = [cid for cid in ids if cid not in penalty]
        if missing:
            raise ValueError(f"penalty has no value for {missing}; give every candidate one (0 for none)")
        penalties = {cid: float(penalty[cid]) for cid in ids}
    _check_book(book, ids, blocks, limit)
    position = {cid: i for i, cid in enumerate(ids)}

    alive = ids
    eliminated: list[Elimination] = []
    evaluations = 0
    block = 0
    while len(alive) > keep and block < limit:
        todo = [cid for cid in alive if not book.has(cid, block)]
        if todo:
            _record(book, await _fetch(evaluate, todo, block, len(blocks[block])), todo, block)
            evaluations += len(todo)

        raced = range(block + 1)
        matrix = np.stack([book.scores(cid, raced) for cid in alive])
        shift = np.array([penalties[cid] for cid in alive])
        beats = beats_matrix(matrix, alpha=alpha, test=test, zero_variance=zero_variance, penalty=shift)
        out = _spare(eliminate(beats, keep), beats, matrix.mean(axis=1) - shift, keep)

        dropped = [alive[j] for j in np.flatnonzero(out)]
        for j in np.flatnonzero(out):
            beaters = tuple(alive[i] for i in np.flatnonzero(beats[:, j]))
            eliminated.append(Elimination(cid=alive[j], block=block, beaten_by=beaters))
        alive = [cid for j, cid in enumerate(alive) if not out[j]]
        if on_block is not None:
            event = BlockEvent(block=block, alive=len(alive), eliminated=tuple(dropped), evaluated=len(todo))
            on_block(event)
        block += 1
    blocks_used = block

    if equal_evidence:
        common = sorted({b for cid in alive for b in book.blocks_of(cid) if b < limit})
        gaps = [(b, [cid for cid in alive if not book.has(cid, b)]) for b in common]
        gaps = [(b, todo) for b, todo in gaps if todo]
        # One block at a time, like the race itself: a budget check runs before each batch, so
        # concurrent batches here could overshoot a budget by more than one batch.
        for b, todo in gaps:
            _record(book, await _fetch(evaluate, todo, b, len(blocks[b])), todo, b)
            evaluations += len(todo)
        evidence = {cid: common for cid in alive}
    else:
        evidence = {cid: book.blocks_of(cid) for cid in alive}

    means = {cid: book.mean(cid, evidence[cid]) if evidence[cid] else -math.inf for cid in alive}
    ranked = sorted(alive, key=lambda cid: (-means[cid], penalties[cid], position[cid]))
    survivors = tuple(ranked[:keep])
    return RaceResult(
        survivors=survivors,
        survivor_means=tuple(means[cid] if math.isfinite(means[cid]) else math.nan for cid in survivors),
        eliminated=tuple(eliminated),
        cut=tuple(ranked[keep:]),
        blocks_used=blocks_used,
        evaluations=evaluations,
        full_evaluations=len(ids) * limit,
    )
