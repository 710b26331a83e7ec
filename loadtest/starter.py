"""The starter profile `loadtest init` writes: every section a first profile needs, each
key commented with its default. tests/test_cli.py loads it, so it stays valid."""

from __future__ import annotations

STARTER = """\
# A loadtest profile. Edit the target, then: loadtest validate THIS_FILE && loadtest run THIS_FILE
# Every key is in the README's table; commented keys show their defaults.
name = "my-endpoint"
duration = "1m"             # run length (30s, 5m, 1h)
warmup = "5s"               # sent but not measured: connections, caches, autoscalers
interval = "5s"             # one dashboard frame and one interval of the .hlog
# requests = 0              # stop each target after this many measured requests (0: none)
# error_budget = 1.0        # stop a target whose failed fraction passes this
# out = "reports"           # where run folders go
# records = "all"           # results.jsonl lines: all, errors (only failures) or none
# workers = 1               # processes sending the load, merged into one run ("auto": per core)

# SLO gates, judged at the end (exit 99 when one fails).
thresholds = ["ttft.p95 < 1s", "errors.rate < 1%"]

[load]
mode = "closed"             # closed: a fixed number of streams; open: arrivals at a rate
concurrency = 4             # streams (closed loop)
# rate = 10                 # requests per second (open loop)
# arrivals = "poisson"      # open loop: constant, poisson or gamma (with burstiness)
# max_in_flight = 1000      # open loop: beyond it a due request waits and counts late
# To find where the server saturates, steps instead of one level:
# [[load.steps]]
# duration = "30s"
# concurrency = 1
# [[load.steps]]
# duration = "30s"
# concurrency = 16

[workload]
input_tokens = 200          # or { distribution = "normal", mean = 1000, stddev = 200 }
output_tokens = 128         # sent as max_tokens
# ignore_eos = true         # vLLM and the simulator: exactly output_tokens, so runs compare
# prompts_file = "prompts.jsonl"   # one {"messages": [...]} or {"prompt": "..."} per line
# system = "You are a helpful assistant."
# temperature = 0.0

# [timeouts]
# connect = "10s"
# ttft = "60s"
# idle = "30s"              # longest gap between two events
# total = "10m"

[[targets]]
name = "local"
kind = "openai-compatible"  # openai, openai-responses, anthropic, openai-compatible
model = "meta-llama/Llama-3.1-8B-Instruct"
base_url = "http://127.0.0.1:8000/v1"   # "sim": loadtest's built-in simulator
# api_key_env = "LOCAL_API_KEY"         # the variable holding the key; never the key itself

# A second target runs side by side, under the same load and prompts:
# [[targets]]
# name = "gpt-4o-mini"
# kind = "openai"
# model = "gpt-4o-mini"
# api_key_env = "OPENAI_API_KEY"
"""
