"""Chinese wording for readers: expected values as sentences, a plain explanation per rule, Chinese
names for mart columns, levels and aggregate targets (wording.yaml beside the catalogue).

A rule that wording.yaml does not know still reads in Chinese: its sentence is composed from the
check's kind and thresholds, so new rule ids need no code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from fund_pipeline.rules.catalogue import Check, Rule

WORDING_PATH = Path(__file__).parent / "wording.yaml"
ROW_PLACEHOLDERS = ("allowed_purposes",)  # filled per failing row (see fill_row_placeholders)


@cache
def wording() -> dict:
    return yaml.safe_load(WORDING_PATH.read_text(encoding="utf-8")) or {}


class _Keep(dict):
    """format_map that leaves unknown {names} in place (per-row placeholders are filled later)."""

    def __missing__(self, key):
        return "{" + key + "}"


def _value(value) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(_value(v) for v in value)
    if isinstance(value, float) and 0 < abs(value) <= 1:  # a share: 0.2 -> 20%, 0.001 -> 0.1%
        return f"{value:.4%}".rstrip("%").rstrip("0").rstrip(".") + "%"
    if isinstance(value, int | float):
        return f"{value:,.0f}" if abs(value) >= 10000 else f"{value:g}"
    return str(value)


WITH_QUARANTINED = "_with_quarantined"


def yuan_text(amounts):
    """Amounts (a Series) as a reader writes them in a sentence: 1,882,345.00元."""
    return amounts.astype(float).map("{:,.2f}元".format).astype("string")


def column_label(name: str | None, labels: dict | None = None) -> str:
    if not name:
        return ""
    label = (labels or {}).get(name) or wording().get("columns", {}).get(name)
    if not label and name.endswith(WITH_QUARANTINED):  # a measure's twin computed with quarantined rows
        return column_label(name.removesuffix(WITH_QUARANTINED), labels) + QUARANTINED_LABEL
    return label or name


QUARANTINED_LABEL = "(含被隔离行)"


def measure_unit(label: str | None) -> str | None:
    """The unit (元, 户, 比例) of a computed measure, named by its Chinese label (with or without the
    quarantined twin's suffix); None for anything else, a department's own column among them."""
    if not isinstance(label, str):
        return None
    label = label.removesuffix(QUARANTINED_LABEL)
    names = {text: name for name, text in wording().get("columns", {}).items()}
    return wording().get("measure_units", {}).get(names.get(label, label))


def expected_sentence(rule: Rule, index: int, check: Check, params: dict, labels: dict,
                      thresholds: dict | None = None) -> str:
    """The expected value of one check as a Chinese sentence with the thresholds in force."""
    listed = (wording().get("rules", {}).get(rule.id) or {}).get("expected") or []
    if index < len(listed) and listed[index]:
        merged = {**(rule.thresholds if thresholds is None else thresholds), **params}
        values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in merged.items()}
        values.update({k: (_value(v) if isinstance(v, list) else v) for k, v in values.items()})
        try:
            return str(listed[index]).format_map(_Keep(values))
        except (ValueError, TypeError):
            return str(listed[index])
    return composed_sentence(rule, check, params, labels)


def composed_sentence(rule: Rule, check: Check, params: dict, labels: dict) -> str:
    """A Chinese sentence for a check wording.yaml does not list, from its kind and thresholds."""
    shown = check.report_column or check.column
    label = column_label(check.column, labels)
    prefix = "" if check.column in (shown, None) else label
    kind = check.expect
    if kind == "between":
        low, high = params.get("min_value"), params.get("max_value")
        if low is not None and high is not None:
            return f"{prefix}应为{_value(low)}" if low == high else f"{prefix}应在{_value(low)}至{_value(high)}之间"
        if low is not None:
            return f"{prefix}应{'大于' if params.get('strict_min') else '不低于'}{_value(low)}"
        return f"{prefix}应{'低于' if params.get('strict_max') else '不超过'}{_value(high)}"
    if kind == "in_set":
        values = list(params.get("value_set") or [])
        if values and all(isinstance(v, bool) for v in values):
            return f"应符合:{rule.title}"
        return f"{prefix}应为{_value(values)}之一"
    if kind == "not_null":
        return f"应填写{column_label(shown, labels)}"
    if kind == "unique_together":
        return "、".join(column_label(c, labels) for c in params.get("columns", [])) + "的组合不应重复"
    if kind == "pair_equal":
        return f"{column_label(params['column_a'], labels)}应与{column_label(params['column_b'], labels)}一致"
    if kind == "pair_greater_or_equal":
        return f"{column_label(params['column_a'], labels)}应不小于{column_label(params['column_b'], labels)}"
    if kind == "match_regex":
        return f"{label}的格式应符合规定"
    return f"应符合:{rule.title}"


def explanation(rule: Rule) -> str:
    entry = wording().get("rules", {}).get(rule.id) or {}
    return entry.get("explain") or rule.message


def level_name(level: str | None) -> str:
    return wording().get("levels", {}).get(level or "", level or "")


def target_info(target: str | None) -> dict:
    return wording().get("targets", {}).get(target or "", {})


def _own_checks(rule: Rule):
    """A rule's checks without the twins that re-check a measure with quarantined money included."""
    return [(i, c) for i, c in enumerate(rule.checks) if not str(c.column or "").endswith("_with_quarantined")]


def threshold_sentence(rule: Rule) -> str:
    """The rule's thresholds in words, by year where they change (for the summary and the glossary)."""
    given = (wording().get("rules", {}).get(rule.id) or {}).get("standard")
    if given or not rule.checks:
        return given or ""
    sentences = []
    for index, check in _own_checks(rule):
        params = {k: rule.thresholds.get(v[1:], v) if isinstance(v, str) and v.startswith("$") else v
                  for k, v in check.params.items()}
        sentences.append(expected_sentence(rule, index, check, params, {}, rule.thresholds)
                         .replace("{allowed_purposes}", "该渠道登记的用途"))
    text = ";".join(dict.fromkeys(s for s in sentences if "{" not in s))
    for year, changes in sorted(rule.thresholds_by_year.items()):
        changed = {k: v for k, v in changes.items() if k != "severity"}
        if changed:
            params_by_check = []
            for index, check in _own_checks(rule):
                merged = rule.thresholds_for(year)
                params = {k: merged.get(v[1:], v) if isinstance(v, str) and v.startswith("$") else v
                          for k, v in check.params.items()}
                params_by_check.append(expected_sentence(rule, index, check, params, {}, merged))
            text += f";{year}年起" + ";".join(dict.fromkeys(s for s in params_by_check if "{" not in s))
        if changes.get("severity") == "error":
            text += f";{year}年起未达到为错误"
    return text
