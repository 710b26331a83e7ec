"""loadtest: load and latency tester for streaming LLM APIs."""

__version__ = "0.1.0"
