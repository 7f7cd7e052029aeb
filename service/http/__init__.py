"""The web face: the FastAPI app, routes, schemas, uploads, errors, middlewares (limits,
request context, metrics) and the web page with its templates and static files.

Imports `service.engine` and `service.model`; nothing of ours imports it but `python -m service`.
"""
