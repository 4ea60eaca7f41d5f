"""Resident IDs and account numbers never appear whole in a report: 6204**********1234.

They arrive in many forms and every form is masked: plain digits, a number Excel stored as a float
(`620422198002015712.0`), scientific notation (`6.204221980020157e+17`), digits in groups separated by
spaces or hyphens (`6204 2219 8002 0157 12`) and full-width digits (`６２０４…`).
"""

from __future__ import annotations

import re

import pandas as pd

_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_SEPARATOR = r"[ \u00a0\u3000\-]"
# 15 to 22 digits (the last may be the ID's check character X), optionally in separated groups.
_DIGIT_RUN = re.compile(rf"(?<![\dA-Za-z])(?P<run>\d(?:{_SEPARATOR}?\d){{13,20}}{_SEPARATOR}?[\dXx])(?:\.0+)?(?![\dA-Za-z])")
# A float's scientific notation of a 15-22 digit number: keep the first four digits only.
_SCIENTIFIC = re.compile(r"(?<![\dA-Za-z])(\d)\.(\d{3})\d*[eE]\+?(1[4-9]|2[0-1])(?!\d)")


# The plain digit runs alone, one pattern per length from 22 (long passbook numbers) down to 15 (legacy
# IDs): simple enough for PostgreSQL's regexp_replace, into which the masked views compile them
# (fund_pipeline/access/roles.py).
_PATTERNS = [
    (rf"(?<![\dA-Za-z])(\d{{4}})\d{{{n - 8}}}(\d{{3}}[\dXx])(?![\dA-Za-z])", r"\1" + "*" * (n - 8) + r"\2")
    for n in range(22, 14, -1)
]


def _mask_run(match: re.Match) -> str:
    digits = re.sub(r"[^\dXx]", "", match.group("run"))
    if not 15 <= len(digits) <= 22:
        return match.group(0)
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def _mask_scientific(match: re.Match) -> str:
    return f"{match.group(1)}.{match.group(2)}{'*' * 10}e+{match.group(3)}"


def mask_string(text: str) -> str:
    """Mask every identifier-like number inside one text (a log line, a page, a cell)."""
    if not text:
        return text
    text = str(text)
    if any("\uff10" <= ch <= "\uff19" for ch in text):
        text = text.translate(_FULL_WIDTH)
    return _DIGIT_RUN.sub(_mask_run, _SCIENTIFIC.sub(_mask_scientific, text))


def mask_text(values: pd.Series) -> pd.Series:
    """Mask every identifier-like digit run inside free text, vectorised over a column."""
    out = values.astype("string").str.translate(_FULL_WIDTH)
    out = out.str.replace(_SCIENTIFIC, _mask_scientific, regex=True)
    return out.str.replace(_DIGIT_RUN, _mask_run, regex=True)
