"""One generation interface with two backends: HF `generate` and vLLM (`vllm.LLM`)."""

from hawkeye.generation.base import Generation, GenerationBackend, SamplingParams
from hawkeye.generation.factory import make_backend

__all__ = ["Generation", "GenerationBackend", "SamplingParams", "make_backend"]
