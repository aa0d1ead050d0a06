"""`POST /v1/chat/completions` (openai-python's types/chat/: ChatCompletion, Choice,
ChatCompletionMessage; response_format text | json_object | json_schema).

There is no language model here. The answer is built from the request, deterministically, so a
test can tell exactly what the caller sent and what it will get back:
- transcript lines are the lines of the messages that start with a segment id in brackets
  (`[12] …`, `[#12] …`, `[segment 12] …`) — else every non-empty line of the last user message;
- with `json_schema`, the schema is filled in: string fields quote those lines in order (split
  into contiguous runs, one run per string field); an array field cites the ids of the lines in
  the string field of the same name (or of its sibling string fields, or all ids); numbers 0,
  booleans false, enums their first value;
- with `json_object`, {"summary": the lines, "cited_segments": their ids}; else plain text.
"""

import json
import re
import secrets
import time

from aiohttp import web

from standins.openai.errors import http_error

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ID_LINE = re.compile(
    r"^\s*\[\s*(?:#|seg(?:ment)?\s*|id\s*[:=]?\s*)?(\d+)\s*\]\s*(.+?)\s*$", re.IGNORECASE
)


class Line:
    def __init__(self, text: str, segment_id: int | None) -> None:
        self.text, self.segment_id = text, segment_id


def message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def transcript_lines(messages: list[dict]) -> list[Line]:
    cited = [
        Line(match.group(2), int(match.group(1)))
        for message in messages
        for raw in message_text(message).splitlines()
        if (match := ID_LINE.match(raw))
    ]
    if cited:
        return cited
    users = [m for m in messages if m.get("role") == "user"]
    last = message_text(users[-1]) if users else ""
    return [Line(raw.strip(), None) for raw in last.splitlines() if raw.strip()]


def resolve(schema: dict, root: dict) -> dict:
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/"):
        target = root
        for key in reference[2:].split("/"):
            target = target.get(key, {})
        return target
    return schema


def kind_of(schema: dict) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        return "object"
    return kind or "string"


def string_fields(schema: dict, root: dict, path: tuple = ()) -> list[tuple]:
    schema = resolve(schema, root)
    kind = kind_of(schema)
    if kind == "object":
        return [
            field
            for name, sub in schema.get("properties", {}).items()
            for field in string_fields(sub, root, (*path, name))
        ]
    if kind == "string" and "enum" not in schema:
        return [path]
    return []


def share(lines: list[Line], fields: list[tuple]) -> dict[tuple, list[Line]]:
    if not fields:
        return {}
    if len(lines) < len(fields):  # too few lines for a run each: every field quotes one
        return {field: [lines[i % len(lines)]] if lines else [] for i, field in enumerate(fields)}
    size = len(lines)
    return {
        field: lines[i * size // len(fields) : (i + 1) * size // len(fields)]
        for i, field in enumerate(fields)
    }


def fill(
    schema: dict, root: dict, path: tuple, quoted: dict[tuple, list[Line]], all_ids: list[int]
):
    schema = resolve(schema, root)
    kind = kind_of(schema)
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {
            name: fill(sub, root, (*path, name), quoted, all_ids)
            for name, sub in schema.get("properties", {}).items()
        }
    if kind == "string":
        return "\n".join(line.text for line in quoted.get(path, []))
    if kind == "array":
        ids = cited_ids(path, quoted, all_ids)
        item_kind = kind_of(resolve(schema.get("items", {}), root))
        if item_kind == "integer" or item_kind == "number":
            return ids
        if item_kind == "string":
            return [str(i) for i in ids]
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


def cited_ids(path: tuple, quoted: dict[tuple, list[Line]], all_ids: list[int]) -> list[int]:
    name = path[-1] if path else None
    same_name = [f for f in quoted if f and f[-1] == name]
    siblings = [f for f in quoted if f[:-1] == path[:-1]]
    for fields in (same_name, siblings):
        if fields:
            return [
                line.segment_id for f in fields for line in quoted[f] if line.segment_id is not None
            ]
    return all_ids


def answer(messages: list[dict], response_format: dict | None) -> str:
    lines = transcript_lines(messages)
    ids = [line.segment_id for line in lines if line.segment_id is not None]
    kind = (response_format or {}).get("type", "text")
    if kind == "json_schema":
        schema = response_format["json_schema"].get("schema") or {}
        quoted = share(lines, string_fields(schema, schema))
        return json.dumps(fill(schema, schema, (), quoted, ids))
    if kind == "json_object":
        return json.dumps(
            {"summary": "\n".join(line.text for line in lines), "cited_segments": ids}
        )
    return "\n".join(f"- {line.text}" for line in lines)


def check(body) -> str | None:
    """What is wrong with the request, in OpenAI's words, or None."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    if not body.get("model"):
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Missing required parameter: 'messages'."
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"Invalid value for 'messages[{index}].role'."
        if "content" not in message:
            return f"Missing required parameter: 'messages[{index}].content'."
    response_format = body.get("response_format")
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or response_format.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        return (
            "Invalid value for 'response_format.type': supported values are 'text', "
            "'json_object' and 'json_schema'."
        )
    if response_format["type"] == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            return "Missing required parameter: 'response_format.json_schema'."
        if not isinstance(spec.get("name"), str) or not SCHEMA_NAME.match(spec["name"]):
            return "Invalid 'response_format.json_schema.name': must match ^[a-zA-Z0-9_-]{1,64}$."
        if "schema" in spec and not isinstance(spec["schema"], dict):
            return "Invalid type for 'response_format.json_schema.schema': expected an object."
    if response_format["type"] == "json_object" and not any(
        "json" in message_text(m).lower() for m in messages
    ):
        return (
            "'messages' must contain the word 'json' in some form, to use "
            "'response_format' of type 'json_object'."
        )
    return None


async def chat_completions(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    request["log_entry"]["json"] = body
    problem = check(body)
    if problem is not None:
        return http_error(400, problem)
    content = answer(body["messages"], body.get("response_format"))
    prompt_tokens = sum(len(message_text(m).split()) for m in body["messages"])
    completion_tokens = len(content.split())
    return web.json_response(
        {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": None,
        }
    )
