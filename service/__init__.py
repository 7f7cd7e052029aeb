"""Penguin species classification service: model loading, preprocessing and the HTTP API."""
