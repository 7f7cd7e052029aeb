"""Penguin species classification service, in three layers whose imports point down only:

    service.model   what travels with the weights (metadata, file formats, preprocessing,
                    the classifier); all that training imports
    service.engine  runs predictions, free of HTTP (batching, runner, pipeline, life cycle)
    service.http    the web face (the FastAPI app, routes, errors, middlewares, the page)

plus the settings read from the environment (settings.py, cpus.py) and two commands:
`python -m service` (__main__.py) and `penguin-classify` (batch_command.py).
"""

import warnings

# The runtime image has no NumPy: the service hands pixels to torch without it (Pillow's bytes
# straight into a tensor), and NumPy would add 40 MB and import time to every cold start. torch
# warns at import that it could not load it; this filter silences exactly that one warning, so
# the startup log holds only lines that need attention.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
