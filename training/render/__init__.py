"""Procedural penguin photographs for training.

`render_image(label, seed, index)` draws one synthetic photo of class `label`; the
`dataset` module writes many of them to an ImageFolder tree with a manifest.
"""

from .compose import CLASSES, GENERATOR_VERSION, render_image

__all__ = ["CLASSES", "GENERATOR_VERSION", "render_image"]
