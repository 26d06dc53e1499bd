"""A → B for one question: the one chain `hawkeye.serve` answers with and the evaluate stage times.

Model A writes the CoT c with the reasoning prompt (streamed, and stopped at `policy.think_end` by
the model's stop ids); B reads (q, c, s), with c as the served run trained B to read it
(`responder.reads.responder_prompt` under its `answer_leak`), and its answer is the reply. B's request
leaves as soon as A's stream has ended: the only work between them is building B's prompt.

A model whose call failed on the server's side (down, stuck), or that was down at start, is asked
for its health before the next request starts, until it answers again: while B is down, a request fails at once with B's
error (a status code, before A has spent anything on it) instead of after A's whole CoT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from hawkeye.prompts import reasoning_messages
from hawkeye.responder.reads import responder_prompt
from hawkeye.serving.chat_models import ChatModel, Decoding, Generated
from hawkeye.serving.protocol import ApiError, usage

GREEDY = Decoding()


@dataclass
class Turn:
    """One request through the pipeline: A's call, B's call, and why the reply ended."""

    a: Generated = field(default_factory=Generated)
    b: Generated = field(default_factory=Generated)
    finish_reason: str = "stop"

    def usage(self) -> dict[str, Any]:
        return usage(self.a.prompt_tokens, self.a.completion_tokens, self.b.prompt_tokens, self.b.completion_tokens)


class Pipeline:
    def __init__(self, a: ChatModel, b: ChatModel, cot_max_tokens: int, answer_max_tokens: int,
                 answer_leak: str = "mask") -> None:
        self.a, self.b = a, b
        self.cot_max_tokens, self.answer_max_tokens = cot_max_tokens, answer_max_tokens
        self.answer_leak = answer_leak
        self.failing: set[str] = set()  # names of the models whose last call failed on their side

    async def events(self, question: str, turn: Turn, max_tokens: int | None = None,
                     max_completion_tokens: int | None = None,
                     decoding: Decoding = GREEDY) -> AsyncIterator[tuple[str, str]]:
        """("reasoning", text) chunks of A's CoT, then ("content", text) chunks of B's answer.

        `max_tokens` caps B's answer (default: the configured answer cap); `max_completion_tokens`
        caps A's and B's new tokens together, as OpenAI counts reasoning tokens (a CoT that uses it
        all leaves no answer: finish_reason "length", B not called)."""
        await self._fail_fast()
        budget = max_completion_tokens
        cot_cap = min(self.cot_max_tokens, budget) if budget else self.cot_max_tokens
        cot = ""
        # aclosing: a client that leaves mid-stream stops the model's generation at once
        async with aclosing(self._watched(self.a, reasoning_messages(question), cot_cap, decoding, turn.a)) as a_stream:
            async for text in a_stream:
                cot += text
                yield "reasoning", text
        answer_cap = max_tokens or self.answer_max_tokens
        if budget:
            answer_cap = min(answer_cap, budget - turn.a.completion_tokens)
            if answer_cap <= 0:
                turn.finish_reason = "length"
                return
        _, b_messages = responder_prompt(question, cot, self.answer_leak)
        async with aclosing(self._watched(self.b, b_messages, answer_cap, decoding, turn.b)) as b_stream:
            async for text in b_stream:
                yield "content", text
        turn.finish_reason = turn.b.finish_reason

    async def _watched(self, model: ChatModel, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding,
                       out: Generated) -> AsyncIterator[str]:
        """`model.stream`, noting whether it failed on the server's side (5xx) or worked."""
        try:
            async with aclosing(model.stream(messages, max_tokens, decoding, out)) as stream:
                async for text in stream:
                    yield text
        except ApiError as e:
            if e.status >= 500:
                self.failing.add(model.name)
            raise
        self.failing.discard(model.name)

    async def _fail_fast(self) -> None:
        """A model that failed last time and still does not answer its health check fails this request now."""
        for model in (self.a, self.b):
            if model.name in self.failing:
                if (why := await model.down()) is not None:
                    raise ApiError(502, f"{model.name} is down: {why}")
                self.failing.discard(model.name)

    async def check_at_start(self) -> dict[str, str]:
        """`down()`, with each model that is down treated as one whose last call failed: a request
        fails at once with its error until it answers its health check."""
        down = await self.down()
        self.failing |= set(down)
        return down

    async def down(self) -> dict[str, str]:
        """{model name: why it cannot serve} for each model that cannot (empty: both can)."""
        out = {}
        for model in (self.a, self.b):
            if (why := await model.down()) is not None:
                out[model.name] = why
        return out
