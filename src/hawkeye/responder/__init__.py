"""Model B, the responder: what it reads of A's CoT (`reads`) and the frozen model that answers (`model`).

Kept import-free, so importing `reads` (answer masking) does not load `model` and its generation backends.
"""
