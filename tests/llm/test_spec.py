import pytest

from promptopt.errors import ModelSpecError
from promptopt.llm.spec import parse_model_spec


def test_local_default_and_path():
    assert parse_model_spec("local").backend == "local"
    assert parse_model_spec("local").model == "embedded"
    spec = parse_model_spec("local:/models/x.Q4.gguf")
    assert spec.model == "/models/x.Q4.gguf"


def test_openai_with_base_url_and_options():
    spec = parse_model_spec(
        "openai:Qwen/Qwen2.5-7B-Instruct@http://gpu:8000/v1/?max_concurrency=128&timeout=90&key_env=VLLM_KEY"
    )
    assert spec.backend == "openai"
    assert spec.model == "Qwen/Qwen2.5-7B-Instruct"
    assert spec.base_url == "http://gpu:8000/v1"
    assert spec.option("max_concurrency") == 128
    assert spec.option("timeout") == 90.0
    assert spec.key_env == "VLLM_KEY"
    # the identity never contains the URL: the same model behind another host shares the cache
    assert spec.identity == "openai:Qwen/Qwen2.5-7B-Instruct"


def test_litellm_router_urls():
    spec = parse_model_spec("litellm:openai/m@http://a:1/v1,http://b:2/v1")
    assert spec.base_urls == ("http://a:1/v1", "http://b:2/v1")


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("", "empty"),
        ("gpt4", "unknown backend 'gpt4'"),
        ("openai:", "needs a model name"),
        ("openai:m@ftp://x", "must start with http"),
        ("openai:m@http://a/v1,http://b/v1", "litellm"),
        ("vllm:m@http://a/v1", "openai:MODEL@"),
        ("litellm:claude", "PROVIDER/MODEL"),
        ("local:model.bin", "not a .gguf"),
        ("openai:m?rpm=fast", "needs a number"),
        ("openai:m?colour=red", "unknown option 'colour'"),
        ("openai:m?rpm=-5", "must be positive"),
        ("openai:m?key_env=not a var", "environment variable"),
    ],
)
def test_bad_specs_say_what_is_wrong(bad, needle):
    with pytest.raises(ModelSpecError) as info:
        parse_model_spec(bad)
    message = str(info.value)
    assert needle in message
    assert "Model specs look like" in message


def test_public_names_are_the_objects_not_modules():
    import promptopt.llm.connection  # noqa: F401  (importing a submodule must not shadow a name)
    from promptopt.llm import ChatRequest, connect, parse_model_spec

    assert callable(connect) and connect.__name__ == "connect"
    assert parse_model_spec("local").backend == "local"
    assert ChatRequest.user("x").messages[0].content == "x"


def test_a_price_option_needs_both_sides_and_prices_the_endpoint():
    from promptopt.llm.connection import price_for

    spec = parse_model_spec("openai:m@http://127.0.0.1:8000/v1?usd_per_mtok_in=0.5&usd_per_mtok_out=1.5")
    price = price_for(spec)
    assert price is not None and price.prompt_usd == pytest.approx(0.5e-6) and price.completion_usd == pytest.approx(1.5e-6)
    assert price_for(parse_model_spec("openai:m@http://127.0.0.1:8000/v1")) is None  # unknown, not zero
    free = price_for(parse_model_spec("local?usd_per_mtok_in=0&usd_per_mtok_out=0"))
    assert free is not None and free.prompt_usd == 0.0  # zero is a real price (a free endpoint), not unknown
    with pytest.raises(ModelSpecError, match="'usd_per_mtok_in' needs 'usd_per_mtok_out' too"):
        parse_model_spec("openai:m@http://127.0.0.1:8000/v1?usd_per_mtok_in=0.5")
    with pytest.raises(ModelSpecError, match="must be zero or positive"):
        parse_model_spec("local?usd_per_mtok_in=-1&usd_per_mtok_out=1")
