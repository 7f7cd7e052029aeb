"""What runs predictions, free of HTTP: micro-batching, the inference runner, the request
pipeline and the model's life cycle (loading, ready, failed).

Imports `service.model` and the settings; `service.http` builds on it.
"""
