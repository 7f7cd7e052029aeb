"""Penguin species classification service: model loading, preprocessing and the HTTP API."""

import warnings

# The runtime image has no NumPy: the service hands pixels to torch without it (Pillow's bytes
# straight into a tensor), and NumPy would add 40 MB and import time to every cold start. torch
# warns at import that it could not load it; this filter silences exactly that one warning, so
# the startup log holds only lines that need attention.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
