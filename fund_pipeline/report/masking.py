"""Resident IDs and account numbers never appear whole in a report: 6204**********1234."""

from __future__ import annotations

import pandas as pd

# One pattern per length from 22 (long passbook numbers) down to 15 (legacy IDs): keep the first four
# and the last four characters, star the rest, so every length keeps its shape.
_PATTERNS = [
    (rf"(?<![\dA-Za-z])(\d{{4}})\d{{{n - 8}}}(\d{{3}}[\dXx])(?![\dA-Za-z])", r"\1" + "*" * (n - 8) + r"\2")
    for n in range(22, 14, -1)
]


def mask_text(values: pd.Series) -> pd.Series:
    """Mask every identifier-like digit run inside free text, vectorised."""
    out = values.astype("string")
    for pattern, replacement in _PATTERNS:
        out = out.str.replace(pattern, replacement, regex=True)
    return out
