"""The closed vocabulary of the synthetic world, shared by the generator and the checker.

Keeping it small and closed is what makes exact checking possible (and lets a tiny model
learn the task on CPU with a small tokenizer).
"""

from __future__ import annotations


COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 45, 45),
    "green": (45, 165, 70),
    "blue": (45, 85, 215),
    "yellow": (235, 200, 40),
    "purple": (140, 65, 190),
    "orange": (240, 135, 30),
}
SHAPES = ("circle", "square", "triangle", "star", "arrow")
SIZES = ("small", "large")
PATTERNS = ("plain", "striped", "dotted")
HEADINGS = ("right", "down", "left", "up")  # clockwise order, as seen by the viewer

OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up", "in": "out", "out": "in"}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
COUNT_WORD = {value: word for word, value in NUMBER_WORDS.items()}

# Words a free-text instruction may use for the same thing; the checker normalises with these.
SYNONYMS = {
    "color": "colour",
    "grey": "gray",
    "bigger": "larger",
    "big": "large",
    "tiny": "small",
    "smaller": "smaller",
    "stripes": "striped",
    "stripe": "striped",
    "dots": "dotted",
    "spotted": "dotted",
    "solid": "plain",
    "anticlockwise": "counterclockwise",
    "counter-clockwise": "counterclockwise",
    "square-shaped": "square",
    "upward": "up",
    "upwards": "up",
    "downward": "down",
    "downwards": "down",
    "leftward": "left",
    "rightward": "right",
    "top": "up",
    "bottom": "down",
}
PLURALS = {f"{shape}s": shape for shape in SHAPES}
