"""Chat Completions (`POST {base_url}/chat/completions`): OpenAI's, or any server speaking it
(llama.cpp, vLLM, Ollama). Used for the draft note."""

from clinic.integrations.openai.errors import OpenAIError
from clinic.integrations.openai.http import post


def chat_completion(
    *,
    base_url: str,
    api_key: str,
    model: str,
    messages: list[dict],
    response_format: dict | None = None,
    temperature: float | None = 0.0,
    timeout: float,
    max_retries: int = 2,
) -> str:
    """The first choice's message content. OpenAIError when there is none to be had."""
    body: dict = {"model": model, "messages": messages}
    if temperature is not None:
        body["temperature"] = temperature
    if response_format is not None:
        body["response_format"] = response_format
    response = post(
        f"{base_url.rstrip('/')}/chat/completions",
        api_key=api_key,
        timeout=timeout,
        service="The language model",
        max_retries=max_retries,
        json=body,
    )
    try:
        choice = response.json()["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise OpenAIError("The language model's answer had no message in it.") from None
    if not isinstance(content, str):
        refusal = (choice.get("message") or {}).get("refusal")
        raise OpenAIError(f"The language model gave no content (refusal: {refusal!r}).")
    if choice.get("finish_reason") == "length":
        raise OpenAIError("The language model's answer was cut off (finish_reason length).")
    return content
