"""Prompt rendering (paper-compatible and chat), hashing, and token length."""

import pytest

from promptopt.llm.records import Message
from promptopt.prompt import NEUTRAL_SYSTEM, FewShot, Prompt, load_prompt_text, renderer_for
from promptopt.tokens import ESTIMATE, SERVER_TOKENIZER, token_length, token_lengths


def test_paper_renderer_is_exactly_the_papers_format():
    prompt = Prompt("Classify the sentiment.", (FewShot("great film", "<final_answer>positive</final_answer>"),
                                                FewShot("dull", "<final_answer>negative</final_answer>")))
    system, user = prompt.render("a fine movie", "paper")
    assert system == Message("system", NEUTRAL_SYSTEM)
    assert user.content == (
        "Classify the sentiment.\n\n"
        "Input:\ngreat film\nOutput:\n<final_answer>positive</final_answer>\n\n"
        "Input:\ndull\nOutput:\n<final_answer>negative</final_answer>\n\n"
        "Input:\na fine movie"
    )
    zero_shot = Prompt("Classify.").render("x", "paper")[1].content
    assert zero_shot == "Classify.\n\nInput:\nx"


def test_chat_renderer_uses_turns():
    prompt = Prompt("Be brief.", (FewShot("q1", "a1"),))
    assert prompt.render("q2", "chat") == (
        Message("system", "Be brief."), Message("user", "q1"), Message("assistant", "a1"), Message("user", "q2")
    )
    with pytest.raises(ValueError, match="unknown renderer 'xml'"):
        renderer_for("xml")


def test_hash_is_stable_and_covers_examples_and_order():
    a = Prompt("Do it.", (FewShot("1", "x"), FewShot("2", "y")))
    assert a.hash == Prompt("Do it.", (FewShot("1", "x"), FewShot("2", "y"))).hash
    assert a.hash != Prompt("Do it.", (FewShot("2", "y"), FewShot("1", "x"))).hash
    assert a.hash != Prompt("Do it!", a.examples).hash
    assert Prompt.from_dict(a.to_dict()) == a
    assert load_prompt_text("  Classify it.\n") == Prompt("Classify it.")
    with pytest.raises(ValueError):
        Prompt("   ")


@pytest.mark.asyncio
async def test_token_length_asks_the_servers_tokenizer_once_and_never_generates(server_factory, client_for, tmp_path):
    from promptopt.llm.cache import ResponseCache

    server = server_factory()
    client = client_for(server, cache=ResponseCache(tmp_path / "c.sqlite3"))
    lengths = await token_lengths(["one two three", "four five"], client)
    # the test server's tokenizer counts words, as its usage accounting does
    assert [(n.value, n.method) for n in lengths] == [(3, SERVER_TOKENIZER), (2, SERVER_TOKENIZER)]
    stats = server.stats()
    assert stats.tokenize_requests == 2 and stats.completions_ok == 0 and client.ledger.total().requests == 0
    await client.aclose()
    # a replay (another client on the same cache) needs no server for the lengths
    replay = client_for(server, cache=ResponseCache(tmp_path / "c.sqlite3"))
    assert [n.value for n in await token_lengths(["one two three", "four five"], replay)] == [3, 2]
    assert server.stats().tokenize_requests == 2
    await replay.aclose()


@pytest.mark.asyncio
async def test_token_length_without_a_server_tokenizer_is_an_estimate(server_factory, client_for):
    from promptopt.testing.capacity import ServerConfig

    server = server_factory(config=ServerConfig(tokenize=False))  # a hosted API has no /tokenize
    client = client_for(server)
    first = await token_lengths(["twelve chars", "x" * 40], client)
    assert [(n.value, n.method) for n in first] == [(3, ESTIMATE), (10, ESTIMATE)]
    await token_lengths(["again"], client)
    assert server.stats().by_status == {404: 2}  # /tokenize and /extras/tokenize asked once, then remembered
    assert server.stats().completions_ok == 0 and client.ledger.total().requests == 0
    await client.aclose()


@pytest.mark.asyncio
async def test_token_length_uses_the_local_models_tokenizer():
    from promptopt.llm.backends.local import LocalBackend
    from promptopt.llm.client import LLMClient

    client = LLMClient(LocalBackend(n_ctx=256))
    length = await token_length("Classify the sentiment of the review.", client)
    await client.aclose()
    assert length.method.startswith("model tokenizer")
    assert 5 <= length.value <= 12


def test_a_prompt_record_round_trips_and_a_bad_one_names_its_field():
    from promptopt.records import RecordError

    prompt = Prompt("Do it.", (FewShot("1", "x"),))
    assert prompt.to_dict() == {"instruction": "Do it.", "examples": [{"input": "1", "output": "x"}]}
    assert Prompt.from_dict({"instruction": "Do it.", "examples": [{"input": "1", "output": "x", "note": 0}]}) == prompt
    with pytest.raises(RecordError, match=r"^prompt: examples.0.output: Field required$"):
        Prompt.from_dict({"instruction": "Do it.", "examples": [{"input": "1"}]}, where="prompt")
    with pytest.raises(RecordError, match=r"^prompt: a prompt needs a non-empty instruction"):
        Prompt.from_dict({"instruction": " "}, where="prompt")
