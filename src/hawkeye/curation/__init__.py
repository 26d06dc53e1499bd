"""Curation: Model A's own CoTs (c_orig) and their refinement (rules, LLM feedback)."""
