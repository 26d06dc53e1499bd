"""The pieces of `python -m hawkeye.serve`: the OpenAI request protocol and the chat models A and B."""
