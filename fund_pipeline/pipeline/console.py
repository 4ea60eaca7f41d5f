"""What the operator reads while `fund-pipeline run` works: one Chinese line per stage and department as
Dagster reports it (a Dagster logger on the run's events, not Dagster's own debug log), then a closing
summary built from the run's events and the findings in force after it."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field

import pandas as pd

from fund_pipeline.report.masking import mask_text

STAGES = {"landing": "读取", "clean": "校验发布", "warehouse": "建模", "audit": "审核", "reports": "报告"}


def _say(line: str, stream=None) -> None:
    text = mask_text(pd.Series([line], dtype="string")).iloc[0]
    print(text, file=stream or sys.stdout, flush=True)


def _department(source: str) -> str:
    from fund_pipeline.sources.spec import load_layouts

    return next((s.department for s in load_layouts() if s.name == source), source)


def _value(metadata: dict, key: str, default=0):
    entry = metadata.get(key)
    return default if entry is None else getattr(entry, "value", entry)


class ProgressHandler(logging.Handler):
    """Turns the run's Dagster events into progress lines: a stage's start, each asset it materialised."""

    def __init__(self, started: float, stream):
        super().__init__(level=logging.DEBUG)
        self.started, self.stream = started, stream
        self.said: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None) or (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        if event is None:
            return
        try:
            line = self.describe(event)
        except Exception:  # a progress line must never break the run
            line = None
        if line and line not in self.said:  # a partitioned asset reports each fiscal year: said once
            self.said.add(line)
            self.say(line)

    def say(self, line: str) -> None:
        _say(f"[{self._clock()}] {line}", self.stream)

    def _clock(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"

    def describe(self, event) -> str | None:
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            return self._materialized(materialization.asset_key.path, dict(materialization.metadata))
        if kind == "STEP_FAILURE":
            return f"失败 步骤 {event.step_key}:{root_cause(event.event_specific_data.error)}"
        if kind == "STEP_START" and event.step_key == "fund_dbt_models":
            return "建模 dbt 模型(staging → intermediate → marts)开始构建"
        return None

    def say_kept(self, path: list[str], metadata: dict) -> None:
        """The line of a step the run left out, its inputs unchanged, as the step would have said it."""
        self.say(self._materialized(path, {**metadata, "inputs_unchanged": True}))

    def _materialized(self, path: list[str], metadata: dict) -> str | None:
        line = self._line(path, metadata)
        if line and "inputs_unchanged" in metadata:
            line += "(输入未变,沿用上次结果)"
        return line

    def _line(self, path: list[str], metadata: dict) -> str | None:
        stage, name = path[0], path[-1]
        if stage == "landing":
            errors, warnings = _value(metadata, "ingest_errors"), _value(metadata, "ingest_warnings")
            return (f"读取 {_department(name)} · {name}:{_value(metadata, 'files')} 个文件,"
                    f"{_value(metadata, 'rows_read'):,} 行(读取问题:错误 {errors},警告 {warnings})")
        if stage == "clean":
            aside = _value(metadata, "rows_set_aside")
            return (f"校验发布 {name}:发布 {_value(metadata, 'rows_published'):,} 行,"
                    f"隔离 {_value(metadata, 'rows_quarantined'):,} 行" + (f",重复搁置 {aside:,} 行" if aside else "")
                    + f",问题 {_value(metadata, 'findings'):,} 处")
        if stage == "warehouse":
            return f"建模 {name} 完成"
        if path == ["audit", "policy_measures"]:
            return f"审核 政策指标(县级年度、村、项目)已核对,问题 {_value(metadata, 'findings'):,} 处"
        if path == ["audit", "validation_findings"]:
            return (f"审核 全部规则已检查:当前问题 {_value(metadata, 'findings'):,} 处,"
                    f"其中错误 {_value(metadata, 'errors'):,} 处,未通过规则 {_value(metadata, 'rules_failed')} 条")
        if stage == "reports":
            return "报告 审计报告已生成"
        return f"{STAGES.get(stage, stage)} {'/'.join(path)} 完成"


def progress_logger(started: float, stream=None):
    """A Dagster logger (LoggerDefinition) that prints the progress lines to stream."""
    import dagster as dg

    stream = stream or sys.stdout

    @dg.logger(description="Chinese progress lines for the operator's console (fund-pipeline run).")
    def progress(init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger("fund_pipeline.progress", level=logging.DEBUG)
        logger.addHandler(ProgressHandler(started, stream))
        return logger

    return progress


def say_kept(started: float, kept, stream=None) -> None:
    """A progress line for each step the run leaves out (its inputs unchanged), as the step would say it."""
    handler = ProgressHandler(started, stream or sys.stdout)
    models = [step for step in kept if step.key.path[0] == "warehouse"]
    for step in kept:
        if step.key.path[0] != "warehouse":
            handler.say_kept(list(step.key.path), step.metadata)
    if models:  # one line for the dbt build, as when it runs
        handler.say(f"建模 dbt 模型 {len(models)} 个(输入未变,沿用上次结果)")


INTERRUPTED = "运行被中断(Ctrl-C,或运行被取消)"


def innermost(error):
    """The error at the bottom of a Dagster error's chain of causes."""
    while error.cause is not None:
        error = error.cause
    return error


def cause_message(error) -> str:
    """The innermost error's whole message; an interrupted run's, in Chinese."""
    error = innermost(error)
    return INTERRUPTED if error.cls_name == "DagsterExecutionInterruptedError" else error.message.strip()


def root_cause(error) -> str:
    message = cause_message(error)
    return message.splitlines()[-1] if message else innermost(error).cls_name


# -- the closing summary -----------------------------------------------------------------------------
@dataclass
class RunSummary:
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # department, source, read, published, quarantined, set_aside
    errors: int = 0
    warnings: int = 0
    new: int | None = None
    resolved: int | None = None
    failed_rules: list[str] = field(default_factory=list)
    steps: set = field(default_factory=set)  # landing and publishing assets the run materialized
    kept: set = field(default_factory=set)  # of which kept their output, their inputs unchanged
    models_kept: int = 0  # dbt models left out, nothing they read changed
    models: int = 0  # dbt models the run built or left out


ROW_COLUMNS = ["department", "source", "read", "published", "quarantined", "set_aside"]


def summarise_events(events, kept=()) -> RunSummary:
    """Rows read per department and the findings by severity, from the runs' own events and the steps the
    run left out as unchanged (`kept`: defs/reuse.py's KeptStep, with what each recorded)."""
    read: dict[str, int] = {}
    summary = RunSummary()
    for step in kept:
        path = tuple(step.key.path)
        if path[0] == "warehouse":
            summary.models_kept += 1
            summary.models += 1
            continue
        summary.steps.add(path)
        summary.kept.add(path)
        if path[0] == "landing":
            read[path[-1]] = int(step.metadata.get("rows_read", 0))
    for event in events:
        if event.event_type_value != "ASSET_MATERIALIZATION":
            continue
        materialization = event.event_specific_data.materialization
        path, metadata = materialization.asset_key.path, dict(materialization.metadata)
        if path[0] == "landing":
            read[path[-1]] = int(_value(metadata, "rows_read"))
        if path[0] == "warehouse":
            summary.models += 1
            if "inputs_unchanged" in metadata:  # the dbt step found nothing it reads changed
                summary.models_kept += 1
        if path[0] in ("landing", "clean"):  # an asset of several fiscal years counts once
            summary.steps.add(tuple(path))
            if "inputs_unchanged" in metadata:
                summary.kept.add(tuple(path))
        if path == ["audit", "validation_findings"]:
            summary.errors = int(_value(metadata, "errors"))
            summary.warnings = int(_value(metadata, "findings")) - summary.errors
    summary.rows = pd.DataFrame({"department": [_department(s) for s in read], "source": list(read),
                                 "read": list(read.values())}).reindex(columns=ROW_COLUMNS)
    return summary


def add_publication(summary: RunSummary, warehouse_url: str) -> None:
    """Published, quarantined and set-aside rows of the departments this run read, as they stand now
    (audit.current_reconciliation, every fiscal year)."""
    from fund_pipeline.warehouse import Warehouse

    if summary.rows.empty:
        return
    try:
        warehouse = Warehouse.from_url(warehouse_url)
        if not warehouse.table_exists("audit", "current_reconciliation"):
            return
        listed = ", ".join(f"'{s}'" for s in summary.rows["source"])
        counts = warehouse.query(
            "select source, sum(published) as published, sum(quarantined) as quarantined, sum(set_aside) as set_aside "
            f"from audit.current_reconciliation where source in ({listed}) group by source").set_index("source")
    except Exception:  # only the summary's detail: the run's own outcome is what gets reported
        return
    rows = summary.rows.drop(columns=["published", "quarantined", "set_aside"]).join(counts, on="source")
    summary.rows = rows.reindex(columns=ROW_COLUMNS).sort_values(["department", "source"]).reset_index(drop=True)


def findings_recorded(warehouse_url: str) -> bool:
    """Whether the warehouse holds findings from an earlier run (audit.current_findings exists)."""
    from fund_pipeline.warehouse import Warehouse

    try:
        return Warehouse.from_url(warehouse_url).table_exists("audit", "current_findings")
    except Exception:  # only a comparison for the summary: a failed run's own error is what gets reported
        return False


@dataclass
class FindingsNow:
    errors: int
    warnings: int
    new: int  # first found by these runs (新增)
    resolved: int  # gone with these runs (已整改)


def findings_now(warehouse_url: str, run_ids: list[str]) -> FindingsNow | None:
    """The findings in force after the run by severity, and those the run found first or resolved, counted
    by the findings' lifecycle as the report counts them (a finding whose value moved is still 持续). From
    the warehouse, not the run's events: a run stopped before its audit step still says what is in force."""
    from fund_pipeline.pipeline.lifecycle import NEW, RESOLVED_TABLE
    from fund_pipeline.warehouse import Warehouse

    runs = ", ".join("'" + run_id.replace("'", "''") + "'" for run_id in run_ids) or "''"
    try:
        warehouse = Warehouse.from_url(warehouse_url)
        if not warehouse.table_exists("audit", "current_findings"):
            return None
        counts = warehouse.query(
            "select count(*) filter (where severity = 'error') as errors, "
            "count(*) filter (where severity <> 'error') as warnings, "
            f"count(*) filter (where status = '{NEW}' and first_seen_run in ({runs})) as new "
            "from audit.current_findings").iloc[0]
        resolved = 0
        if warehouse.table_exists("audit", RESOLVED_TABLE):
            resolved = int(warehouse.query(f"select count(distinct finding_key) as n from audit.{RESOLVED_TABLE} "
                                           f"where resolved_run in ({runs})")["n"].iloc[0])
    except Exception:  # only the summary's detail: the run's own outcome is what gets reported
        return None
    return FindingsNow(int(counts["errors"]), int(counts["warnings"]), int(counts["new"]), resolved)


def _cell(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{int(value):,}"


def _width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _left(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _right(text: str, width: int) -> str:
    return " " * max(width - _width(text), 0) + text


def render_summary(outcome) -> list[str]:
    summary: RunSummary = outcome.summary
    minutes, seconds = divmod(int(outcome.seconds), 60)
    lines = ["", f"运行 {outcome.run_id[:8]}:{'完成' if outcome.success else '失败'}(用时 {minutes} 分 {seconds} 秒)"]
    if len(summary.rows):
        lines.append("各部门数据(行):")
        width = max(_width(d) for d in summary.rows["department"])
        counts = ["read", "published", "quarantined", "set_aside"]
        totals = summary.rows[counts].apply(pd.to_numeric).sum(min_count=1)
        table = [("部门", "来源", "读取", "发布", "隔离", "重复搁置")]
        table += [(r["department"], r["source"], *(_cell(r[c]) for c in counts)) for _, r in summary.rows.iterrows()]
        table.append(("合计", "", *(_cell(totals[c]) for c in counts)))
        for department, source, *cells in table:
            lines.append(f"  {_left(department, width)}  {_left(source, 30)}" + "".join(_right(c, 10) for c in cells))
    if summary.kept:
        lines.append(f"输入未变、沿用上次结果的读取与发布步骤:{len(summary.kept)} 个(共 {len(summary.steps)} 个);"
                     "FUND_PIPELINE_CACHE=off 时全部重算")
    if summary.models_kept:
        lines.append(f"dbt 模型未重建:{summary.models_kept} 个(共 {summary.models} 个),其读取的已发布数据与 dbt 项目均未变")
    change = (f"较上次运行:新增 {summary.new} 处,已解决 {summary.resolved} 处" if summary.new is not None
              else "较上次运行:无上次运行的问题记录,不作比较")
    lines.append(f"当前问题:错误 {summary.errors:,} 处,警告 {summary.warnings:,} 处;{change}")
    if summary.failed_rules:
        lines.append(f"未通过的规则检查({len(summary.failed_rules)} 条):{'、'.join(summary.failed_rules)}")
    for kind, path in outcome.reports.items():
        lines.append(f"审计报告({'网页' if kind == 'html' else 'Excel'}):{path}")
    lines.append(f"数据仓库:{outcome.warehouse_url}")
    if outcome.error:
        lines.append(f"错误:{outcome.error}")
    return list(mask_text(pd.Series(lines, dtype="string")).fillna(""))


# -- before the run ----------------------------------------------------------------------------------
def warehouse_problem(url: str, password: str = "") -> str | None:
    """Whether the warehouse can be reached, asked once before the run: a Chinese sentence, or None.
    The password comes from the settings (environment or file), never from the URL."""
    from sqlalchemy.engine import make_url

    scheme = url.split(":", 1)[0]
    try:
        if scheme == "duckdb":
            return _duckdb_problem(url.removeprefix("duckdb:///"))
        if scheme.startswith("postgres"):
            return _postgres_problem(make_url(url), password)
    except Exception as error:  # a malformed URL
        return f"数据仓库地址「{url}」无法解析:{error}"
    return f"数据仓库地址「{url}」不受支持:请使用 duckdb:///路径/文件.duckdb 或 postgresql+psycopg2://用户@主机/库"


def _duckdb_problem(path: str) -> str | None:
    from pathlib import Path

    import duckdb

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        duckdb.connect(str(target)).close()
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            return None  # another run holds the file: the run waits its turn (warehouse/_connect_with_patience)
        return f"无法打开数据仓库文件「{target}」:{str(error).splitlines()[0]}"
    except OSError as error:
        return f"无法创建数据仓库文件「{target}」:{error.strerror or error}"
    return None


def _postgres_problem(url, password: str = "") -> str | None:
    import psycopg2

    shown = url.render_as_string(hide_password=True)
    try:
        psycopg2.connect(host=url.host or "localhost", port=url.port or 5432, user=url.username,
                         password=url.password or password or None, dbname=url.database, connect_timeout=10).close()
    except psycopg2.Error as error:
        reason = " ".join(str(error).split())
        return f"无法连接数据仓库 {shown}:{reason[:300]}"
    return None
