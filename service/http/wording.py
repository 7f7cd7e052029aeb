"""Sentences shown to people about predictions, shared by the JSON API and the web page."""

from __future__ import annotations


def joined_with_or(words: list[str]) -> str:
    """['Adelie', 'Chinstrap', 'Gentoo'] -> 'Adelie, Chinstrap or Gentoo'."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


def rejection_message(species: list[str]) -> str:
    """Why a photo got no species; names the species so people know what the model knows."""
    return (f"No {joined_with_or(species)} penguin was recognised in this photo. "
            "Try a clearer photo with one penguin in view.")


def display_label(label: str) -> str:
    """'no_penguin' -> 'No penguin'; species names are shown as they are."""
    return label.replace("_", " ").capitalize() if "_" in label else label
