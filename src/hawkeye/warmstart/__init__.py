"""Warm start of the testbed: tiny Model A and Model B trained from scratch, then the pre-flight gate."""
