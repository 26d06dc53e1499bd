"""Serving: the A → B pipeline and the servers behind it.

- `pipeline`: A → B for one question (what `hawkeye.serve` answers and the evaluate stage times);
- `chat_models`: Model A or B as the pipeline calls it (a vLLM server, or in-process HF);
- `app`, `protocol`: the OpenAI-compatible endpoint and what it accepts;
- `endpoints`, `servers`: the vLLM servers behind the roles, and their process lifecycle;
- `cli`: `python -m hawkeye.serve`.
"""
