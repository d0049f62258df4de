"""What a new password must be, after NIST SP 800-63B rev. 4 for a password that is the only factor.

Length is the rule: MIN_PASSWORD to MAX_PASSWORD characters of any kind, spaces too, and no rule about
which kinds. Besides that a new password is refused when a guesser would try it early: when it is on a
list of common and breached passwords (zxcvbn's, the 30,000 seen most often in breaches), also with
digits, spaces or symbols added at an end (password1234567); when it is a shorter piece repeated
(passwordpassword); or when it is built from the account's email address. Comparisons ignore case and
Unicode compatibility forms (a full-width "ｐａｓｓ" is "pass"). Sequences and keyboard walks that are not
on the list (abcdefghijklmnop, qwertyuiopasdfgh) are not caught.

Only sign-up applies this: an account made under the older rule (8 characters) still signs in.
"""

from __future__ import annotations

import string
import unicodedata

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from services.dashboard.rules import MAX_PASSWORD, MIN_PASSWORD

__all__ = ["COMMON", "RULE", "problems"]

COMMON = frozenset(FREQUENCY_LISTS["passwords"])  # in lower case, 4 to 20 characters each
_PADDING = string.digits + string.punctuation + string.whitespace
RULE = (f"{MIN_PASSWORD} to {MAX_PASSWORD} characters of any kind, spaces too; a few words make a good one."
        f" Refused when, ignoring case, it is one of the {len(COMMON):,} passwords most common in breaches (or one"
        " of them with digits, spaces or symbols added at an end), a shorter piece repeated, or built from the"
        " account's email address. No other rule: no required digits, capitals or symbols.")


def problems(password: str, email: str) -> list[str]:
    """What is wrong with `password` as a new password for the account `email` (empty: it may be used)."""
    if len(password) < MIN_PASSWORD:
        found = [f"must be at least {MIN_PASSWORD} characters (got {len(password)}): a few words with spaces"
                 f" between them make a good one"]
    elif len(_piece(_fold(password))) < MIN_PASSWORD:
        found = [f"repeats a piece shorter than {MIN_PASSWORD} characters (like abcabcabc), which is as easy to"
                 f" guess as the piece alone: choose another"]
    else:
        found = []
    cores = _cores(_fold(password))
    if cores & COMMON:
        found.append("is one of the most common passwords (or one with only digits, spaces or symbols added at an"
                     " end), so it is among the first an attacker tries: choose another")
    address = _fold(email)
    name = address.partition("@")[0]
    if address and (address in _fold(password) or name in cores):
        found.append("must not be built from your email address: choose another")
    return found


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _cores(text: str) -> set[str]:
    """`text` without the digits, spaces and symbols at its ends: each way of cutting them off, at either end
    or both ("1!ana99": "1!ana9", "1!ana", "!ana99", "ana99", "ana", ...); `text` itself too."""
    cores = {text, text.strip(_PADDING)}
    end = len(text)
    while end > 0 and text[end - 1] in _PADDING:
        end -= 1
        cores.add(text[:end])
    start = 0
    while start < len(text) and text[start] in _PADDING:
        start += 1
        cores.add(text[start:])
    cores.discard("")
    return cores


def _piece(text: str) -> str:
    """The shortest piece `text` is made of, repeated ("abcabc": "abc"); `text` itself when it repeats nothing."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text
