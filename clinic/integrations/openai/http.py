"""One POST to an OpenAI-style endpoint with the retries OpenAI's own client makes: 408, 409,
429 and 5xx (and a dropped connection) are retried with exponential backoff, honouring
`retry-after`; anything else fails at once. Failures are OpenAIError."""

import time

import requests

from clinic.integrations.openai.errors import OpenAIError, error_detail

RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
INITIAL_RETRY_DELAY = 0.5  # seconds; as openai-python's _constants.py
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


def retry_delay(response: requests.Response | None, attempt: int) -> float:
    if response is not None:
        for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            value = response.headers.get(header)
            try:
                seconds = float(value) * scale if value is not None else None
            except ValueError:
                seconds = None
            if seconds is not None and 0 <= seconds <= MAX_RETRY_AFTER:
                return seconds
    return min(INITIAL_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)


def post(
    url: str,
    *,
    api_key: str,
    timeout: float,
    service: str,
    max_retries: int = 2,
    sleep=time.sleep,
    **kwargs,
) -> requests.Response:
    """POST with `Authorization: Bearer <api_key>`; the 2xx response, or OpenAIError."""
    headers = {"Authorization": f"Bearer {api_key}", **kwargs.pop("headers", {})}
    for attempt in range(max_retries + 1):
        response = None
        try:
            response = requests.post(url, headers=headers, timeout=timeout, **kwargs)
        except requests.Timeout:
            failure = OpenAIError(f"{service} did not answer within {timeout:g} s.")
        except requests.RequestException as error:
            failure = OpenAIError(f"{service} is unreachable: {type(error).__name__}.")
        else:
            if response.ok:
                return response
            message, code = error_detail(response)
            failure = OpenAIError(
                f"{service} answered {response.status_code}: {message}",
                status=response.status_code,
                code=code,
            )
            if response.status_code not in RETRIED_STATUSES:
                raise failure
        if attempt == max_retries:
            raise failure
        sleep(retry_delay(response, attempt))
    raise AssertionError("unreachable")
