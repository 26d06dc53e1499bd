"""What `hawkeye.serve` accepts and answers on `/v1/chat/completions`, in OpenAI's shapes.

Accepted: `messages` whose content is a string or a list of parts (text parts are joined with
"\\n", as vLLM joins them; any other part type is refused), `max_tokens`, `max_completion_tokens`,
`stream`, `stream_options.include_usage`, `n` (1 only), `temperature` and `seed`. Other fields
are ignored, as OpenAI-compatible servers do. Every bad value is an `ApiError` (HTTP 400) whose
message and `param` name the field, in OpenAI's error body, so a client never sees a 500 or a hang
for its own mistake.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

INT64 = 2**63  # OpenAI's seed is an int64; torch.manual_seed overflows past it


class ApiError(Exception):
    """An error answered as OpenAI does: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.status}}


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    role: str
    content: Any = None  # a string or a list of parts: checked by `question_of` with precise messages


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    include_usage: bool | None = False


class ChatRequest(BaseModel):
    # strict: "5" is not a number and 1 is not a boolean, as in OpenAI's API
    model_config = ConfigDict(extra="ignore", strict=True)
    model: str | None = None  # one pipeline is served: any name is accepted
    messages: list[Message]
    # B's answer cap (the visible reply), as OpenAI's deprecated max_tokens is for reasoning models
    max_tokens: int | None = Field(None, ge=1)
    # A's CoT plus B's answer together, as OpenAI counts reasoning tokens against it
    max_completion_tokens: int | None = Field(None, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = 1
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    seed: int | None = Field(None, ge=-INT64, lt=INT64)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def parse_chat_request(raw: bytes) -> tuple[ChatRequest, str]:
    """The validated request and its question (the last message's text), or an ApiError."""
    try:
        data = json.loads(raw, parse_constant=_not_json)
    except RecursionError as e:  # [[[[...]]]] deeper than the parser's recursion limit
        raise ApiError(400, "body: not valid JSON (nested too deeply)", "body") from e
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, NaN / Infinity
        raise ApiError(400, f"body: not valid JSON ({e})", "body") from e
    if not isinstance(data, dict):
        raise ApiError(400, f"body: must be a JSON object, got {type(data).__name__}", "body")
    try:
        req = ChatRequest.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        param = _dotted(err["loc"])
        got = "" if err["type"] == "missing" else f" (got {_short(err.get('input'))})"
        raise ApiError(400, f"{param}: {err['msg']}{got}", param) from e
    if req.n not in (None, 1):
        raise ApiError(400, f"n: only n=1 is supported (got {req.n}); send one request per completion", "n")
    if req.stream_options is not None and not req.stream:
        raise ApiError(400, "stream_options: only allowed when stream is true", "stream_options")
    return req, question_of(req.messages)


def question_of(messages: list[Message]) -> str:
    """The question q: the text of the last message, which must come from the user.

    Earlier messages (system prompts, history) are checked but not used: A and B get the
    project's own prompts (`hawkeye.prompts`), as in training and evaluation.
    """
    if not messages:
        raise ApiError(400, "messages: must not be empty; the last message is the user's question", "messages")
    texts = [_text_of(m.content, f"messages[{i}].content") for i, m in enumerate(messages)]
    last = len(messages) - 1
    if messages[last].role != "user":
        raise ApiError(400, f"messages[{last}].role: the last message must be from the user, got "
                            f"{messages[last].role!r}", f"messages[{last}].role")
    if not texts[last].strip():
        raise ApiError(400, f"messages[{last}].content: the question is empty", f"messages[{last}].content")
    return texts[last]


def _text_of(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise ApiError(400, f"{where}: must be a string or a list of content parts, got {type(content).__name__}",
                       where)
    texts = []
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        if not isinstance(part, dict):
            raise ApiError(400, f"{here}: a content part must be an object, got {type(part).__name__}", here)
        if part.get("type") != "text":
            raise ApiError(400, f"{here}.type: content part type {part.get('type')!r} is not supported "
                                "(only 'text')", f"{here}.type")
        if not isinstance(part.get("text"), str):
            raise ApiError(400, f"{here}.text: must be a string", f"{here}.text")
        texts.append(part["text"])
    return "\n".join(texts)


def usage(a_prompt: int, a_completion: int, b_prompt: int, b_completion: int) -> dict[str, Any]:
    """The request's usage: the sum of A's and B's own usage, A's completion as reasoning tokens.

    prompt_tokens = A's prompt + B's prompt (B's prompt holds the question, the CoT and s), so the
    figures add up to what the two engines processed (and to the vLLM servers' own counters).
    """
    completion = a_completion + b_completion
    return {"prompt_tokens": a_prompt + b_prompt, "completion_tokens": completion,
            "total_tokens": a_prompt + b_prompt + completion,
            "completion_tokens_details": {"reasoning_tokens": a_completion}}


def _not_json(constant: str) -> Any:
    """NaN and Infinity are not JSON, though Python's parser takes them: refused here, no field ever sees one."""
    raise ValueError(f"{constant} is not a JSON value")


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
