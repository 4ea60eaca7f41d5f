"""Resident IDs and account numbers never appear whole in a report: 6204**********1234."""

from __future__ import annotations

import pandas as pd

# (digits before, hidden, digits after) for the identifier lengths that occur: 15/18-digit IDs, 16-19-digit accounts.
_PATTERNS = [
    (r"(?<![\dA-Za-z])(\d{4})\d{10}(\d{3}[\dXx])(?![\dA-Za-z])", r"\1**********\2"),  # 18-digit resident ID
    (r"(?<![\dA-Za-z])(\d{4})\d{11}(\d{4})(?![\dA-Za-z])", r"\1***********\2"),  # 19-digit account
    (r"(?<![\dA-Za-z])(\d{4})\d{8,10}(\d{4})(?![\dA-Za-z])", r"\1********\2"),  # 16-18-digit account
    (r"(?<![\dA-Za-z])(\d{4})\d{7}(\d{4})(?![\dA-Za-z])", r"\1*******\2"),  # 15-digit legacy ID
]


def mask_text(values: pd.Series) -> pd.Series:
    """Mask every identifier-like digit run inside free text, vectorised."""
    out = values.astype("string")
    for pattern, replacement in _PATTERNS:
        out = out.str.replace(pattern, replacement, regex=True)
    return out
