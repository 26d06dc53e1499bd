"""GRPO training of Model A with frozen Model B in the reward loop (Algorithm 1)."""
