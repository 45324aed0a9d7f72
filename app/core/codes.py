"""Codes citizens read out over the phone and type on a phone: booking codes (8 + 1
characters) and case codes (诉求码, 9 + 1 characters, so the two never look alike).

The alphabet leaves out 0, 1, I, L and O, which are misread for one another; the last
character is a Luhn mod N check character, which catches every single mistyped character
and every swap of two neighbours, so a typo is answered "check your code" instead of
"not found". Pure: randomness comes in as bytes.
"""

from __future__ import annotations

from typing import Final

ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BODY_LENGTH: Final = 8
_INDEX: Final = {c: i for i, c in enumerate(ALPHABET)}


def check_char(body: str) -> str:
    """The Luhn mod N check character of `body` (every character in ALPHABET)."""
    n = len(ALPHABET)
    total, factor = 0, 2
    for char in reversed(body):
        addend = factor * _INDEX[char]
        total += addend // n + addend % n
        factor = 1 if factor == 2 else 2
    return ALPHABET[(n - total % n) % n]


def make_code(random: bytes, body_length: int = BODY_LENGTH) -> str:
    """A code from at least `body_length` random bytes: body plus check character."""
    if len(random) < body_length:
        raise ValueError(f"need {body_length} random bytes")
    body = "".join(ALPHABET[b % len(ALPHABET)] for b in random[:body_length])
    return body + check_char(body)


def normalise_code(raw: str) -> str:
    """What the citizen typed, as stored: no spaces or dashes, upper case."""
    return "".join(raw.split()).replace("-", "").upper()


def code_is_valid(code: str, body_length: int = BODY_LENGTH) -> bool:
    if len(code) != body_length + 1 or any(c not in _INDEX for c in code):
        return False
    return check_char(code[:-1]) == code[-1]
