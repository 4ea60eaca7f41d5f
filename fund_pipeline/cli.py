"""fund-pipeline: make the sample county, run the whole pipeline, or check one spreadsheet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fund_pipeline.access.door import guarded, url_without_password
from fund_pipeline.settings import Settings


def _sample(args) -> int:
    from fund_pipeline.sample import generate

    years = tuple(int(y) for y in args.years.split(",")) if args.years else (2015, 2016, 2017)
    manifest = generate(Path(args.out), seed=args.seed, scale=args.scale, plant_violations=args.plant_violations,
                        years=years)
    print(f"样例县数据已写入 {Path(args.out).resolve()}:{manifest['files']} 个工作簿,"
          f"{manifest['villages']} 个行政村(贫困村 {manifest['poor_villages']} 个),{manifest['households']} 户")
    if args.plant_violations:
        print(f"预置违规 {manifest['planted_findings']} 处,见 {Path(args.out).resolve() / 'expected_findings.csv'}")
    return 0


def _run(args) -> int:
    from fund_pipeline.pipeline.runner import run_pipeline, sources_selection

    settings = Settings.from_env().with_overrides(
        inbox=Path(args.inbox).resolve() if args.inbox else None,
        warehouse_url=args.warehouse,
        reports_dir=Path(args.reports).resolve() if args.reports else None,
    )
    outcome = run_pipeline(settings, selection=sources_selection(args.source) if args.source else None,
                           years=args.year)
    print(outcome.describe())
    return 0 if outcome.success else 1


def _serve(args) -> int:
    """The webserver and the daemon for the bureau, as two processes sharing DAGSTER_HOME's instance."""
    import subprocess

    from fund_pipeline.settings import PROJECT_ROOT, dagster_instance

    dagster_instance(Settings.from_env())  # makes DAGSTER_HOME and its dagster.yaml when missing
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    bin_dir = Path(sys.prefix) / "bin"
    daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", workspace])
    try:
        return subprocess.call([str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", args.host, "-p", str(args.port)])
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def _validate(args) -> int:
    from fund_pipeline.pipeline.clerk import check_file

    findings = check_file(Path(args.file), args.source)
    if findings.empty:
        print(f"{args.file}:未发现问题。")
        return 0
    for f in findings.itertuples():
        where = f"工作表「{f.sheet}」第{f.row_number}行" if f.row_number is not None and str(f.row_number) != "<NA>" else \
            (f"工作表「{f.sheet}」" if isinstance(f.sheet, str) else "")
        level = "错误" if f.severity == "error" else "警告"
        column = f" 列「{f.column_name}」" if isinstance(f.column_name, str) else ""
        value = f" 值「{f.value}」" if isinstance(f.value, str) else ""
        print(f"[{level}] {f.rule_id} {args.file} {where}{column}{value}:{f.message}")
    errors = int((findings["severity"] == "error").sum())
    print(f"共 {len(findings)} 个问题,其中错误 {errors} 个。")
    return 1 if errors else 0


def _findings(args) -> int:
    """An auditor's disposition of findings: by key on the command line, or a filled-in report workbook."""
    import pandas as pd

    from fund_pipeline.pipeline.lifecycle import (
        DispositionError,
        read_disposition_workbook,
        record_dispositions,
    )
    from fund_pipeline.warehouse import Warehouse

    settings = Settings.from_env().with_overrides(warehouse_url=args.warehouse)
    try:
        warehouse = Warehouse.from_url(settings.warehouse_url)
        if args.action == "dispose":
            entries = pd.DataFrame({"finding_key": args.keys, "disposition": args.disposition, "note": args.note or ""})
            recorded = record_dispositions(warehouse, entries, settings.user, via="命令行")
        else:
            path = Path(args.file)
            if not path.is_file():
                raise DispositionError(f"找不到文件 {path}")
            recorded = record_dispositions(warehouse, read_disposition_workbook(path), settings.user,
                                           via=f"Excel回填:{path.name}")
    except DispositionError as error:
        print(f"未登记:{error}", file=sys.stderr)
        return 2
    except Exception as error:  # an unreachable or wrong warehouse: the auditor gets one line, not a traceback
        print(f"未登记:无法读写数据仓库({type(error).__name__}:{str(error).splitlines()[0][:200]})", file=sys.stderr)
        return 2
    print(f"已登记处置 {recorded} 条(处置人 {settings.user});下次生成的审计报告中显示。")
    return 0


def _db_roles(args) -> int:
    """Create the warehouse roles and grants (PostgreSQL; run as an administrator, e.g. postgres)."""
    from fund_pipeline.access.roles import Roles, create_roles
    from fund_pipeline.warehouse import Warehouse

    settings = Settings.from_env().with_overrides(warehouse_url=args.warehouse)
    if settings.warehouse_kind != "postgres":
        print("DuckDB 是单用户的文件数据库,没有角色:能读这个文件的人就能读全部数据,请用文件权限保护它;"
              "需要分角色访问时请使用 PostgreSQL(见 docs/operations.md)。", file=sys.stderr)
        return 1
    settings.export_dbt_env()  # the password, kept out of the URL, reaches libpq as PGPASSWORD
    roles = Roles(settings.writer_role, settings.auditor_role, settings.viewer_role)
    for line in create_roles(Warehouse.from_url(settings.warehouse_url), roles, settings.writer_password):
        print(line)
    return 0


def _use_county_config(argv: list[str]) -> list[str]:
    """`--config DIR` (anywhere on the line) names the county configuration folder for this command and the
    processes it starts, as FUND_PIPELINE_CONFIG would."""
    import os

    from fund_pipeline.configuration import activate

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, rest = pre.parse_known_args(argv)
    if known.config:
        os.environ["FUND_PIPELINE_CONFIG"] = str(Path(known.config).resolve())
    activate(Settings.from_env().config_dir)
    return rest


def main(argv: list[str] | None = None) -> int:
    argv = _use_county_config(sys.argv[1:] if argv is None else list(argv))
    parser = argparse.ArgumentParser(prog="fund-pipeline", description=__doc__)
    parser.add_argument("--config", help="a county configuration folder (layouts/, reference/); FUND_PIPELINE_CONFIG")
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write the sample county's departmental spreadsheets")
    sample.add_argument("--out", required=True)
    sample.add_argument("--seed", type=int, default=20150805)
    sample.add_argument("--scale", type=float, default=0.02, help="1.0 is a full county-year (~1M payment rows a year)")
    sample.add_argument("--years", help="comma-separated fiscal years (default 2015,2016,2017)")
    sample.add_argument("--plant-violations", action="store_true", help="plant known rule breaks; writes expected_findings.csv")
    sample.set_defaults(handler=_sample)

    run = commands.add_parser("run", help="materialise every asset in this process")
    run.add_argument("--inbox")
    run.add_argument("--warehouse", type=url_without_password,
                     help="duckdb:///path/file.duckdb or postgresql+psycopg2://user@host/db (no password here)")
    run.add_argument("--reports")
    run.add_argument("--source", action="append", help="only this source and what depends on it (repeatable)")
    run.add_argument("--year", action="append", help="only this fiscal year's partition (repeatable; a range is run)")
    run.set_defaults(handler=_run)

    serve = commands.add_parser("serve", help="start the Dagster webserver and daemon (schedules, sensor)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--behind-proxy", action="store_true",
                       help="allow a non-local --host: an authenticating reverse proxy is in front (docs/operations.md)")
    serve.set_defaults(handler=guarded(_serve))

    db = commands.add_parser("db", help="warehouse administration").add_subparsers(dest="db_command", required=True)
    roles = db.add_parser("roles", help="create the writer and read roles and their grants (PostgreSQL, idempotent)")
    roles.add_argument("--warehouse", type=url_without_password, help="postgresql+psycopg2://admin@host/db (no password here)")
    roles.set_defaults(handler=_db_roles)

    validate = commands.add_parser("validate", help="check one spreadsheet against its source layout and rules")
    validate.add_argument("file")
    validate.add_argument("--source", required=True, help="the layout name, e.g. transport_disbursements")
    validate.set_defaults(handler=_validate)

    findings = commands.add_parser("findings", help="审计处置:登记问题的处置意见(确认问题/误报/整改中/已整改)")
    actions = findings.add_subparsers(dest="action", required=True)
    dispose = actions.add_parser("dispose", help="按问题编号登记处置,例如 findings dispose CHANNEL-1a2b3c4d5e6f --as 误报")
    dispose.add_argument("keys", nargs="+", metavar="问题编号", help="审计报告「问题编号」列中的编号(可多个)")
    dispose.add_argument("--as", dest="disposition", required=True, choices=["确认问题", "误报", "整改中", "已整改"],
                         help="处置意见")
    dispose.add_argument("--note", help="处置说明")
    dispose.add_argument("--warehouse", help="数据仓库地址(默认取 FUND_PIPELINE_WAREHOUSE_URL)")
    imported = actions.add_parser("import", help="导入填写了「处置」列的审计报告.xlsx")
    imported.add_argument("file", metavar="工作簿")
    imported.add_argument("--warehouse", help="数据仓库地址(默认取 FUND_PIPELINE_WAREHOUSE_URL)")
    findings.set_defaults(handler=_findings)

    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
