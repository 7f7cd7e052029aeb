"""Penguin species classification service, in three layers whose imports point down only:

    service.model   what travels with the weights (metadata, file formats, preprocessing,
                    the classifier); all that training imports
    service.engine  runs predictions, free of HTTP (batching, runner, pipeline, life cycle)
    service.http    the web face (the FastAPI app, routes, errors, middlewares, the page)

plus the settings read from the environment (settings.py, cpus.py) and two commands:
`python -m service` (__main__.py) and `penguin-classify` (batch_command.py).
"""
