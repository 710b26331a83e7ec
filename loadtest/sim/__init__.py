"""The built-in provider simulator: OpenAI and Anthropic streaming APIs on 127.0.0.1."""
