"""Spoken calls for the hall: number grammar, phrases, synthesis, clip cache, sinks and player."""

from audio.numbers import arabic_number_words, english_number_words
from audio.phrases import Part, Wording, call_parts, call_text

__all__ = [
    "Part",
    "Wording",
    "arabic_number_words",
    "call_parts",
    "call_text",
    "english_number_words",
]
