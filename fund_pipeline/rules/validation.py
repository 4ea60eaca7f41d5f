"""Compile catalogue rules into Great Expectations (GX Core 1.x) suites, run them, and turn the
results into findings: one row per failing row per rule, traced to department, file, sheet and row.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache, wraps
from pathlib import Path

import pandas as pd

from fund_pipeline.lazy import defer_submodule, lazy
from fund_pipeline.pipeline.lifecycle import business_key
from fund_pipeline.reference import channel_purposes
from fund_pipeline.rules import data_docs, gx_worker
from fund_pipeline.rules.catalogue import Catalogue, Check, Rule
from fund_pipeline.rules.wording import column_label, expected_sentence
from fund_pipeline.sources.schemas import ENTITIES


def _before_great_expectations() -> None:
    """GX's expectation registry imports scipy.stats (about 0.8 s) for the distribution expectations (KL
    divergence, KS test), which no catalogue rule uses: it is imported only if one is ever evaluated."""
    defer_submodule("scipy", "stats")


# Great Expectations is imported by the first suite this process builds or runs, not by whatever imports this module.
def _from_gx(module: str, name: str | None = None) -> lazy:
    return lazy(module, name, prepare=_before_great_expectations)


gx = _from_gx("great_expectations")
RunIdentifier = _from_gx("great_expectations.core.run_identifier", "RunIdentifier")
Column = _from_gx("great_expectations.expectations.row_conditions", "Column")

FINDING_COLUMNS = (
    "run_id", "rule_id", "severity", "level", "target", "source", "department", "source_file", "sheet",
    "row_number", "row_key", "column_name", "value", "expected", "message", "policy_clause", "fiscal_year",
    "catalogue_version", "detected_at", "group_key", "attribution", "business_key",
)
# group_key: the person, period, village or project a summed check adds rows up over (every contributing
# row is a finding sharing it); attribution: for aggregate findings, the departments, files, sheets and
# rows that contribute most to the measured value.
# Two passes keep GX's result formatting off the hot path: every expectation is first evaluated with
# BASIC results (counts and a few examples, also what Data Docs show); only the failing ones are run
# again with COMPLETE results to get the index of every failing row.
_FIRST_PASS = {"result_format": "BASIC", "partial_unexpected_count": 20}
_RESULT_FORMAT = {"result_format": "COMPLETE", "partial_unexpected_count": 0, "include_unexpected_rows": False,
                  "return_unexpected_index_query": False}


@dataclass(frozen=True)
class CompiledCheck:
    """One expectation of a suite, as plain data: its GX object is built where the suite runs (this process, or
    the run's GX worker, rules/gx_worker.py)."""

    rule: Rule
    check: Check
    params: dict  # the check's parameters, thresholds resolved
    where: dict  # its row condition, thresholds resolved
    year: int | None  # the fiscal year whose own thresholds it applies; None: the years without their own
    own_years: tuple[int, ...]  # the years the rule has thresholds of their own for
    meta: dict
    expected_text: str
    severity: str


@dataclass(frozen=True)
class Outcome:
    """What findings need of one expectation's GX result."""

    success: bool
    exception_info: dict | None
    unexpected_index_list: list | None

    @classmethod
    def of(cls, result) -> Outcome:
        return cls(bool(result.success), result.exception_info,
                   (result.result or {}).get("unexpected_index_list"))


@cache
def _context():
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")  # `gx` first: GX imported as _before_great_expectations prepares

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # keep run logs readable
    _lighten_pandas_engine()
    return context


def _lighten_pandas_engine() -> None:
    """Two habits of GX's pandas engine that cost time and change no answer (tests: test_gx_speed_paths.py)."""
    from great_expectations.execution_engine import pandas_execution_engine

    # GX hashes every frame under a gigabyte into its batch markers, then again for the failing checks' second
    # pass: 0.4 s at a million payments, for a fingerprint nothing reads (a row's lineage is its file's SHA-256).
    pandas_execution_engine.HASH_THRESHOLD = 0
    engine = pandas_execution_engine.PandasExecutionEngine
    if not hasattr(engine._apply_row_condition_filter, "__wrapped__"):  # not wrapped already
        engine._apply_row_condition_filter = _whole_frame_when_every_row_meets(engine._apply_row_condition_filter)


def _whole_frame_when_every_row_meets(filter_rows):
    """GX filters the frame by an expectation's row condition for every metric it computes, copying every
    column (DataFrame.query): half of GX's time over a million payments. Where every row meets the condition
    (every payment names its village), the frame itself is the filtered frame: no copy, the same rows."""
    from great_expectations.expectations.row_conditions import Condition, PassThroughCondition

    @wraps(filter_rows)
    def apply(self, data, row_condition, domain_kwargs):
        if isinstance(row_condition, Condition) and not isinstance(row_condition, PassThroughCondition):
            try:
                meets = data.eval(self.condition_to_filter_clause(row_condition))
            except Exception:  # noqa: BLE001 (GX's own filtering then says what is wrong, as it always did)
                meets = None
            if isinstance(meets, pd.Series) and meets.dtype == bool and meets.index.equals(data.index) and meets.all():
                return data
        return filter_rows(self, data, row_condition, domain_kwargs)

    return apply


def _resolve(value, thresholds: dict):
    if isinstance(value, str) and value.startswith("$"):
        return thresholds[value[1:]]
    return value


def _condition(where: dict, year: int | None, years_with_own_thresholds: list[int]):
    """A GX row condition from a check's `where`, plus the fiscal years its thresholds apply to."""
    parts = []
    for column, test in where.items():
        c = Column(column)
        if not isinstance(test, dict):
            parts.append(c == test)
            continue
        for op, value in test.items():
            parts.append({
                "not_null": lambda v, c=c: c.is_not_null(), "in": lambda v, c=c: c.is_in(v),
                "lt": lambda v, c=c: c < v, "le": lambda v, c=c: c <= v,
                "gt": lambda v, c=c: c > v, "ge": lambda v, c=c: c >= v, "ne": lambda v, c=c: c != v,
            }[op](value))
    if year is not None:
        parts.append(Column("fiscal_year") == year)
    elif years_with_own_thresholds:
        parts.append(Column("fiscal_year").is_not_in(years_with_own_thresholds))
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition = condition & part
    return condition


def _strictness(rule: Rule, params: dict) -> dict:
    """A threshold's boundary decides whether its limit passes: strict_min/strict_max from the catalogue."""
    out = dict(params)
    for bound, strict in (("min_value", "strict_min"), ("max_value", "strict_max")):
        value = params.get(bound)
        if isinstance(value, str) and value.startswith("$") and strict not in params:
            out[strict] = not rule.limit_allowed(value[1:])
    return out


def _labels(target: str) -> dict[str, str]:
    return {f.name: f.label for f in ENTITIES.get(target, ())}


def _expectation(item: CompiledCheck) -> gx.expectations.Expectation:
    check, p = item.check, item.params
    common = {"meta": item.meta}
    condition = _condition(item.where, item.year, list(item.own_years))
    if condition is not None:
        common["row_condition"] = condition
    if check.expect == "between":
        return gx.expectations.ExpectColumnValuesToBeBetween(
            column=p["column"], min_value=p.get("min_value"), max_value=p.get("max_value"),
            strict_min=bool(p.get("strict_min", False)), strict_max=bool(p.get("strict_max", False)), **common)
    if check.expect == "in_set":
        return gx.expectations.ExpectColumnValuesToBeInSet(column=p["column"], value_set=list(p["value_set"]), **common)
    if check.expect == "not_null":
        return gx.expectations.ExpectColumnValuesToNotBeNull(column=p["column"], **common)
    if check.expect == "unique_together":
        return gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(p["columns"]), **common)
    if check.expect == "pair_equal":
        return gx.expectations.ExpectColumnPairValuesToBeEqual(
            column_A=p["column_a"], column_B=p["column_b"], ignore_row_if="either_value_is_missing", **common)
    if check.expect == "pair_greater_or_equal":
        return gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=p["column_a"], column_B=p["column_b"], or_equal=True, ignore_row_if="either_value_is_missing",
            **common)
    if check.expect == "match_regex":
        return gx.expectations.ExpectColumnValuesToMatchRegex(column=p["column"], regex=p["regex"], **common)
    raise ValueError(check.expect)


def compile_rules(rules: list[Rule], target: str, years: list[int]) -> list[CompiledCheck]:
    """Each check of each rule becomes an expectation; a rule with year-dependent thresholds gets one per year."""
    compiled, labels = [], _labels(target)
    for rule in rules:
        own_years = sorted(y for y in years if rule.thresholds_for(y) != rule.thresholds_for(None)) if rule.year_dependent else []
        # `index` is the check's place among all the rule's checks, as wording.yaml lists their sentences
        for index, check in ((i, c) for i, c in enumerate(rule.checks) if (c.target or rule.target) == target):
            for year in [None, *own_years]:
                thresholds = rule.thresholds_for(year)
                params = {k: _resolve(v, thresholds) for k, v in _strictness(rule, check.params).items()
                          if k != "group_column"}
                where = {k: ({op: _resolve(v, thresholds) for op, v in t.items()} if isinstance(t, dict) else _resolve(t, thresholds))
                         for k, t in check.where.items()}
                severity = rule.severity_for(year)
                meta = {"rule_id": rule.id, "check": index, "severity": severity, "fiscal_year": year,
                        "key": len(compiled)}
                compiled.append(CompiledCheck(rule, check, params, where, year, tuple(own_years), meta,
                                              expected_sentence(rule, index, check, params, labels, thresholds), severity))
    return compiled


def build_suite(name: str, compiled: list[CompiledCheck]) -> gx.ExpectationSuite:
    """A suite of new expectations (GX refuses to put one expectation into two suites)."""
    context = _context()
    suite = gx.ExpectationSuite(name=name)
    for item in compiled:
        suite.add_expectation(_expectation(item))
    return context.suites.add_or_update(suite)


def _docs_site(context, docs_dir: Path) -> str:
    """Register (once) a Data Docs site writing into docs_dir; returns its name."""
    site = "fund_pipeline_" + hashlib.sha1(str(docs_dir).encode()).hexdigest()[:8]
    if site not in (context.variables.data_docs_sites or {}):
        context.add_data_docs_site(site_name=site, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    return site


def columns_read(compiled: list[CompiledCheck]) -> list[str]:
    """The columns a suite reads: GX copies and hashes whatever frame it is given, so it gets only these."""
    names: set[str] = set()
    for item in compiled:
        params = item.check.params
        names.update(c for c in (params.get("column"), params.get("column_a"), params.get("column_b")) if c)
        names.update(params.get("columns") or [])
        names.update(item.check.where)
        if item.year is not None or item.own_years:
            names.add("fiscal_year")
    return sorted(names)


def _numpy_floats_for_between(frame: pd.DataFrame, compiled: list[CompiledCheck]) -> pd.DataFrame:
    """GX compares a column with a range in one vectorised step only when the column is numpy's float64 (or
    int); a nullable Float64 column is compared value by value in Python. Such a column that only ranges are
    checked on is handed over as float64: its missing values are NaN, which GX counts as missing all the same."""
    ranged, other = set(), set()
    for item in compiled:
        read = columns_read([item])
        if item.check.expect == "between":
            ranged.add(item.check.params["column"])
            read = [c for c in read if c != item.check.params["column"]]
        other.update(read)
    for column in sorted(ranged - other):
        if column in frame.columns and isinstance(frame[column].dtype, pd.Float64Dtype):
            frame[column] = frame[column].astype("float64")
    return frame


def run_suite(name: str, frame: pd.DataFrame, compiled: list[CompiledCheck], docs_dir: Path | None = None,
              run_name: str | None = None) -> tuple[list[tuple[CompiledCheck, Outcome]], bool]:
    """Validate a frame with GX; returns (compiled check, outcome) pairs in suite order and the suite's success.
    GX gets only the columns the suite reads. It runs in the run's GX worker when one is running
    (rules/gx_worker.py), else here."""
    frame = frame[[c for c in columns_read(compiled) if c in frame.columns]]
    outcomes, success = gx_worker.validate(name, frame, compiled, docs_dir, run_name)
    return [(compiled[k], outcomes[k]) for k in sorted(outcomes)], success


def validate_with_gx(name: str, frame: pd.DataFrame, compiled: list[CompiledCheck], docs_dir: Path | None,
                     run_name: str | None, render: bool = True) -> tuple[dict[int, Outcome], bool]:
    """The suite run by GX in this process: each expectation's outcome by its key, and the suite's success.
    With docs_dir, the run goes through a Checkpoint and GX Data Docs are rendered there (now; or, when `render`
    is False, by later calls of `render_next_page`), offline and from a masked, escaped copy of the result
    (rules/data_docs.py)."""
    context = _context()
    frame = _numpy_floats_for_between(frame, compiled)
    definition = _definition(context, name, build_suite(name, compiled))
    if docs_dir is None:
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=_FIRST_PASS)
    else:
        # The pages are built from a masked, escaped copy of the result (data_docs.render), not by GX's own action.
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name=name, validation_definitions=[definition], result_format=_FIRST_PASS, actions=[]))
        checkpoint_result = checkpoint.run(batch_parameters={"dataframe": frame},
                                           run_id=RunIdentifier(run_name=run_name or name))
        _UNRENDERED.append((Path(docs_dir), checkpoint_result))
        while render and render_next_page():
            pass
        result = next(iter(checkpoint_result.run_results.values()))
    outcomes = {int(o.expectation_config.meta["key"]): Outcome.of(o) for o in result.results}
    failing = [compiled[k] for k, o in outcomes.items() if not o.success]
    if failing:
        detail = _definition(context, f"{name}__failing", build_suite(f"{name}__failing", failing))
        for outcome in detail.run(batch_parameters={"dataframe": frame}, result_format=_RESULT_FORMAT).results:
            outcomes[int(outcome.expectation_config.meta["key"])] = Outcome.of(outcome)
    return outcomes, bool(result.success)


_UNRENDERED: list = []  # (Data Docs folder, checkpoint result) validated here, pages not yet rendered


def render_next_page() -> bool:
    """Render the pages of the earliest suite validated here and not rendered yet; False when there is none."""
    if not _UNRENDERED:
        return False
    docs_dir, checkpoint_result = _UNRENDERED.pop(0)  # taken first: a page that fails is not tried again
    context = _context()
    data_docs.render(context, _docs_site(context, docs_dir), docs_dir, checkpoint_result)
    return True


def pages_pending() -> int:
    return len(_UNRENDERED)


def _definition(context, name: str, suite: gx.ExpectationSuite) -> gx.ValidationDefinition:
    try:
        source = context.data_sources.get(name)
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas(name)
    asset = source.assets[0] if source.assets else source.add_dataframe_asset(name)
    batch_definition = asset.batch_definitions[0] if asset.batch_definitions else asset.add_batch_definition_whole_dataframe(name)
    return context.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))


def findings_from_results(pairs, frame: pd.DataFrame, target: str, catalogue: Catalogue, run_id: str,
                          detected_at: pd.Timestamp) -> pd.DataFrame:
    """GX unexpected indexes -> finding rows; a row failing several checks of one rule is one finding."""
    labels = _labels(target)
    pieces = []
    for compiled, outcome in pairs:
        if outcome.success:
            continue
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            raise RuntimeError(f"GX could not evaluate {compiled.rule.id} on {target}: {outcome.exception_info}")
        index = pd.Index(outcome.unexpected_index_list or [])
        if index.empty:
            continue
        rows = frame.loc[index]
        column = compiled.check.report_column or compiled.check.column
        piece = pd.DataFrame({
            "rule_id": compiled.rule.id, "severity": compiled.severity, "level": compiled.rule.level,
            "target": target, "column_name": column_label(column, labels),
            "value": _as_text(rows[column]) if column in rows else pd.NA,
            "expected": _row_expected(compiled.expected_text, rows), "message": compiled.rule.message,
            "policy_clause": compiled.rule.clause,
        }, index=index)
        for lineage in ("source", "department", "source_file", "sheet", "row_number", "row_key", "fiscal_year"):
            piece[lineage] = rows[lineage] if lineage in rows else pd.NA
        group = compiled.check.params.get("group_column")
        piece["group_key"] = rows[group].astype("string") if group in rows else pd.NA
        piece["business_key"] = business_key(target, rows)
        pieces.append(piece)
    if not pieces:
        return empty_findings()
    findings = pd.concat(pieces)
    findings["_position"] = findings.index
    findings = findings.drop_duplicates(["rule_id", "_position"]).drop(columns="_position")
    findings["run_id"] = run_id
    findings["catalogue_version"] = catalogue.version
    findings["detected_at"] = detected_at
    return normalise_findings(findings)


def _row_expected(text: str, rows: pd.DataFrame):
    """Fill the per-row part of an expected sentence (the purposes the row's own channel allows)."""
    if "{allowed_purposes}" not in text or "channel_name" not in rows:
        return text
    allowed = channel_purposes().groupby("channel_name")["purpose"].agg("、".join)
    purposes = rows["channel_name"].astype(object).map(allowed).fillna("(该渠道未登记用途)")
    head, tail = text.split("{allowed_purposes}", 1)
    return head + purposes.astype(str) + tail


def _as_text(values: pd.Series) -> pd.Series:
    """Values as auditors read them; floats rounded so that both warehouses print the same sum."""
    if pd.api.types.is_float_dtype(values):
        values = values.round(6)
    return values.astype("string")


def normalise_findings(findings: pd.DataFrame) -> pd.DataFrame:
    out = findings.reindex(columns=list(FINDING_COLUMNS)).reset_index(drop=True)
    out["row_number"] = pd.to_numeric(out["row_number"], errors="coerce").astype("Int64")
    out["fiscal_year"] = pd.to_numeric(out["fiscal_year"], errors="coerce").astype("Int64")
    for column in ("run_id", "rule_id", "severity", "level", "target", "source", "department", "source_file", "sheet",
                   "row_key", "column_name", "value", "expected", "message", "policy_clause", "catalogue_version",
                   "group_key", "attribution", "business_key"):
        out[column] = out[column].astype("string")
    out["detected_at"] = pd.to_datetime(out["detected_at"])
    return out


def empty_findings() -> pd.DataFrame:
    return normalise_findings(pd.DataFrame(columns=list(FINDING_COLUMNS)))


def suite_name(target: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", f"fund_pipeline_{target}")


def evaluate(target: str, frame: pd.DataFrame, rules: list[Rule], catalogue: Catalogue, run_id: str,
             detected_at: pd.Timestamp | None = None, docs_dir: Path | None = None) -> tuple[pd.DataFrame, bool | None]:
    """Run the target's rules over a frame with GX; returns (findings, suite success)."""
    if not rules or frame.empty:
        return empty_findings(), None
    years = sorted(int(y) for y in frame["fiscal_year"].dropna().unique()) if "fiscal_year" in frame else []
    compiled = compile_rules(rules, target, years)
    pairs, success = run_suite(suite_name(target), frame, compiled, docs_dir, run_name=f"run-{run_id[:8]}")
    findings = findings_from_results(pairs, frame, target, catalogue, run_id, detected_at or pd.Timestamp.now())
    return findings, success
