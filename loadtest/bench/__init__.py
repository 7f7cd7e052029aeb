"""`make bench`: the service's speed end to end, against a naive server and the model's ceiling.

See loadtest/BENCHMARK.md for the latest results and `python -m loadtest.bench --help`.
"""
