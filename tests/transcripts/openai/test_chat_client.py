"""clinic.integrations.openai.chat against the stand-in: what it sends (the messages; the key in
the Authorization header only), what it gives back, retries on 429/5xx, one error type."""

import json

import pytest
from conftest import KEY

from clinic.errors import ServiceUnavailableError
from clinic.integrations.openai.chat import chat_completion
from clinic.integrations.openai.errors import OpenAIError

MESSAGES = [
    {"role": "system", "content": "Draft a SOAP note; cite segment ids."},
    {"role": "user", "content": "[7] Patient: I have had headaches.\n[8] Doctor: Take rest."},
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "soap",
        "schema": {
            "type": "object",
            "properties": {
                "subjective": {"type": "string"},
                "plan": {"type": "string"},
                "cited": {"type": "array", "items": {"type": "integer"}},
            },
        },
    },
}

pytestmark = pytest.mark.slow


def ask(standin, **overrides):
    arguments = {
        "base_url": standin.base_url,
        "api_key": KEY,
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "timeout": 10,
        **overrides,
    }
    return chat_completion(**arguments)


def test_it_sends_the_messages_and_the_key_only_in_the_header(fresh_standin):
    content = ask(fresh_standin, response_format=SCHEMA)
    assert json.loads(content) == {
        "subjective": "Patient: I have had headaches.",
        "plan": "Doctor: Take rest.",
        "cited": [7, 8],
    }
    (request,) = fresh_standin.requests()
    assert request["path"] == "/v1/chat/completions"
    assert request["json"]["messages"] == MESSAGES
    assert request["json"]["response_format"] == SCHEMA
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    others = {k: v for k, v in request["headers"].items() if k != "Authorization"}
    assert KEY not in json.dumps([request["json"], request["query"], others])


def test_a_rate_limit_is_retried_until_it_passes(fresh_standin):
    fresh_standin.fault(path="/v1/chat/completions", status=429, times=2, retry_after="0")
    assert ask(fresh_standin)  # two 429s, then the answer
    assert len(fresh_standin.requests()) == 3


def test_a_server_error_past_the_retries_is_one_clear_error(fresh_standin):
    fresh_standin.fault(path="/v1/chat/completions", status=503, times=5, retry_after="0")
    with pytest.raises(OpenAIError) as failure:
        ask(fresh_standin, max_retries=1)
    assert failure.value.status == 503
    assert isinstance(failure.value, ServiceUnavailableError)
    assert len(fresh_standin.requests()) == 2


def test_a_wrong_key_fails_at_once_without_retrying(fresh_standin):
    with pytest.raises(OpenAIError) as failure:
        ask(fresh_standin, api_key="sk-not-this-one-000")
    assert failure.value.status == 401 and failure.value.code == "invalid_api_key"
    assert "sk-not-this-one-000" not in failure.value.message
    assert len(fresh_standin.requests()) == 1


def test_a_slow_server_is_a_timeout_error(fresh_standin):
    fresh_standin.fault(path="/v1/chat/completions", delay_seconds=2, times=1)
    with pytest.raises(OpenAIError, match=r"did not answer within 0\.5 s"):
        ask(fresh_standin, timeout=0.5, max_retries=0)


def test_an_unreachable_server_is_the_same_error(unused_tcp_port):
    with pytest.raises(OpenAIError, match="unreachable"):
        chat_completion(
            base_url=f"http://127.0.0.1:{unused_tcp_port}/v1",
            api_key=KEY,
            model="m",
            messages=MESSAGES,
            timeout=2,
            max_retries=0,
        )
