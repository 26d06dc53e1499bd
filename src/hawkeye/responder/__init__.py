"""Model B, the responder: what it reads of A's CoT (`reads`) and the frozen model that answers (`model`).

Kept import-free: `hawkeye.prompts` imports `reads`, and `model` imports `prompts`.
"""
