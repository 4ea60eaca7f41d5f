"""fund-pipeline: make the sample county, run the whole pipeline, or check one spreadsheet."""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import shutil
import sys
from pathlib import Path

from fund_pipeline.access.door import guarded, url_without_password
from fund_pipeline.settings import Settings, available_cpus, dbt_target_path


def _sample(args) -> int:
    from fund_pipeline.sample import MANIFEST, generate, is_current

    out = Path(args.out)
    years = tuple(int(y) for y in args.years.split(",")) if args.years else (2015, 2016, 2017)
    if args.reuse:
        if is_current(out, args.seed, args.scale, args.plant_violations, years):
            print(f"样例县数据未变(同样的参数与生成程序,文件未改动),沿用 {out.resolve()}")
            return 0
        if out.is_dir() and any(out.iterdir()):
            if not (out / MANIFEST).is_file():
                print(f"{out} 不是样例县生成的文件夹,不会删除;请换一个文件夹", file=sys.stderr)
                return 1
            shutil.rmtree(out)  # an older or edited sample: made again from scratch
    manifest = generate(out, seed=args.seed, scale=args.scale, plant_violations=args.plant_violations, years=years)
    print(f"样例县数据已写入 {Path(args.out).resolve()}:{manifest['files']} 个工作簿,"
          f"{manifest['villages']} 个行政村(贫困村 {manifest['poor_villages']} 个),{manifest['households']} 户")
    if args.plant_violations:
        print(f"预置违规 {manifest['planted_findings']} 处,见 {Path(args.out).resolve() / 'expected_findings.csv'}")
    return 0


_AS_COMMAND = False  # main() runs as the `fund-pipeline` command itself (entry)


def _ctrl_c_reaches_this_process_only() -> None:
    """Ctrl-C at a terminal signals every process of the foreground group: Dagster's log-mirroring helpers and
    the reader's workers would each print a KeyboardInterrupt traceback of their own. SIGINT is blocked here
    before any thread or child process exists, so they inherit it blocked and never see it; one thread takes
    it and interrupts the main thread as the signal would have (the run then stops its helpers itself)."""
    import _thread
    import signal
    import threading

    if not hasattr(signal, "pthread_sigmask") or threading.active_count() > 1:  # Windows; or too late to be sure
        return
    from multiprocessing import resource_tracker

    # Started first: starting it later unblocks SIGINT again in the thread that starts it (the reader's pool).
    resource_tracker.ensure_running()

    def relay() -> None:
        while True:
            signal.sigwait({signal.SIGINT})
            _thread.interrupt_main(signal.SIGINT)

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    threading.Thread(target=relay, name="ctrl-c", daemon=True).start()


def _run(args) -> int:
    if _AS_COMMAND:  # not when main() is called inside another program (a test), whose children need SIGINT
        _ctrl_c_reaches_this_process_only()
    settings = Settings.from_env().with_overrides(
        inbox=Path(args.inbox).resolve() if args.inbox else None,
        warehouse_url=args.warehouse,
        reports_dir=Path(args.reports).resolve() if args.reports else None,
    )
    from fund_pipeline.pipeline.console import warehouse_problem
    from fund_pipeline.sources.reader import inbox_problem

    problem = inbox_problem(settings.inbox)
    if problem:
        print(f"fund-pipeline run:未运行——{problem}", file=sys.stderr)
        return 2
    problem = warehouse_problem(settings.warehouse_url, settings.warehouse_password)  # once, before any step
    if problem:
        print(f"fund-pipeline run:未运行——{problem}", file=sys.stderr)
        return 1
    if not args.verbose:
        import warnings

        warnings.simplefilter("ignore")  # library deprecation notices are for developers (--verbose shows them)
    from fund_pipeline.defs.dbt_worker import building_in_worker
    from fund_pipeline.pipeline.read_ahead import reading_ahead
    from fund_pipeline.rules.gx_worker import validating_in_worker

    # While Dagster and dbt load, new files are read in other processes; unless a large source keeps the second
    # CPU busy reading, GX is imported and the suites validated in another process too. If the run builds dbt
    # models, dbt is made ready and builds in a third (started by the run, pipeline/runner.py).
    with reading_ahead(settings, args.source) as read_ahead:
        second_cpu = available_cpus() >= 2
        with validating_in_worker(second_cpu and not read_ahead), \
                building_in_worker(second_cpu, dbt_target_path(settings.warehouse_url), settings.dbt_env(),
                                   deferred=True):
            outcome = _run_pipeline(settings, args, read_ahead)
    if outcome is None:
        return 2
    print(outcome.describe())
    if not outcome.success:
        return 1
    findings = outcome.summary.errors + (outcome.summary.warnings if args.fail_on == "warning" else 0)
    return 3 if args.fail_on and findings else 0


def _run_pipeline(settings: Settings, args, read_ahead: frozenset[str]):
    """The run's outcome, or None (the reason printed) for an unknown source or fiscal year."""
    from fund_pipeline.pipeline.runner import run_pipeline, sources_selection
    from fund_pipeline.sources.spec import LayoutError

    try:
        selection = sources_selection(args.source) if args.source else None
    except LayoutError as error:
        print(f"fund-pipeline run:未运行——{error}", file=sys.stderr)
        return None
    print(f"运行流水线:收件箱 {settings.inbox},年度 {'、'.join(args.year) if args.year else '数据中的全部年度'}", flush=True)
    if read_ahead:
        print(f"正在后台预先读取新文件;数据量大的来源({'、'.join(sorted(read_ahead))})在其他来源之后落地", flush=True)
    try:
        return run_pipeline(settings, selection=selection, years=args.year, progress=True, verbose=args.verbose,
                            read_ahead=read_ahead, process_ends_with_run=_AS_COMMAND)
    except ValueError as error:  # a fiscal year the data does not have
        print(f"fund-pipeline run:{error}", file=sys.stderr)
        return None


def _serve(args) -> int:
    """The webserver and the daemon for the bureau, as one service on DAGSTER_HOME's instance."""
    from fund_pipeline.service import serve

    return serve(Settings.from_env(), host=args.host, port=args.port)


def _validate(args) -> int:
    from fund_pipeline.pipeline.clerk import ClerkError, check_file, render
    from fund_pipeline.report.masking import mask_text

    try:
        report = check_file(Path(args.file), args.source)
    except ClerkError as error:
        print(f"fund-pipeline validate:{error}", file=sys.stderr)
        return 2
    import pandas as pd

    # Whatever a clerk's file holds, no resident ID or account number leaves it whole.
    try:
        print("\n".join(mask_text(pd.Series(render(report), dtype="string")).fillna("")))
    except BrokenPipeError:  # `validate … | head`: the reader has seen enough
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    return 1 if report.errors else 0


class _ChineseParser(argparse.ArgumentParser):
    """argparse with its own words in Chinese (usage, headings, errors), as every user-facing text is."""

    _ERRORS = ((r"the following arguments are required: (.*)", "缺少参数:{}"),
               (r"unrecognized arguments: (.*)", "无法识别的参数:{}"),
               (r"argument (.*?): invalid choice: (.*?) \(choose from (.*)\)", "参数 {} 的值 {} 无效(可选:{})"),
               (r"argument (.*?): expected one argument", "参数 {} 需要一个值"),
               (r"argument (.*?): invalid (\w+) value: (.*)", "参数 {} 的值无效({}):{}"),
               (r"argument (.*?): (.*)", "参数 {}:{}"))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _ChineseHelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "参数"
        self._optionals.title = "选项"
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="显示本帮助并退出")

    def error(self, message):
        import re

        for pattern, text in self._ERRORS:
            match = re.fullmatch(pattern, message)
            if match:
                message = text.format(*match.groups())
                break
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}:错误:{message}\n")


class _ChineseHelpFormatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix="用法:" if prefix is None else prefix)


def _sources_epilog(option: str) -> str:
    """The sources a clerk may name, listed in `validate --help`; a broken layout is said, not raised."""
    from fund_pipeline.sources.spec import load_layouts

    try:
        specs = load_layouts()
    except Exception as error:  # the help must still show
        return f"来源布局有误:{error}"
    lines = [f"可用的来源({option} 可写布局名、部门全称或部门文件夹名):"]
    lines += [f"  {s.name:<32} {s.department}  {'、'.join(s.files)}" for s in specs]
    return "\n".join(lines)


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
    parser = _ChineseParser(prog="fund-pipeline", description="扶贫资金数据流水线:生成样例县数据、运行整条流水线、启动服务,或检查一张报表。")
    parser.add_argument("--config", metavar="文件夹", help="本县的配置文件夹(layouts/、reference/)(默认:FUND_PIPELINE_CONFIG,未设置则用内置的会宁县配置)")
    commands = parser.add_subparsers(dest="command", required=True, title="子命令",
                                     parser_class=_ChineseParser)

    sample = commands.add_parser("sample", help="生成样例县各部门的报表", description="生成样例县各部门的 Excel 报表(可预置违规)。")
    sample.add_argument("--out", required=True, metavar="文件夹", help="输出文件夹(必填)")
    sample.add_argument("--seed", type=int, default=20150805, metavar="整数", help="随机种子(默认:20150805)")
    sample.add_argument("--scale", type=float, default=0.02, metavar="规模", help="规模,1.0 约为一个县一年(约100万行支付明细)(默认:0.02)")
    sample.add_argument("--years", metavar="年度", help="财政年度,逗号分隔(默认:2015,2016,2017)")
    sample.add_argument("--plant-violations", action="store_true", help="预置已知的违规,并写出 expected_findings.csv(默认:不预置)")
    sample.add_argument("--reuse", action="store_true",
                        help="文件夹中已是同样参数、同一生成程序生成且未改动的样例时不再重新生成;否则删除旧样例后重新生成(默认:直接生成)")
    sample.set_defaults(handler=_sample)

    run = commands.add_parser("run", help="在本进程中运行整条流水线", description="读取收件箱中各部门报表,校验、发布、建模并生成审计报告。",
                              epilog=_sources_epilog("--source"))
    run.add_argument("--inbox", metavar="文件夹", help="收件箱文件夹(默认:FUND_PIPELINE_INBOX,或 数据目录/inbox)")
    run.add_argument("--warehouse", type=url_without_password, metavar="地址",
                     help="数据仓库地址 duckdb:///路径/文件.duckdb 或 postgresql+psycopg2://用户@主机/库,不可带密码"
                          "(默认:FUND_PIPELINE_WAREHOUSE_URL,或 数据目录/warehouse.duckdb)")
    run.add_argument("--reports", metavar="文件夹", help="报告文件夹(默认:FUND_PIPELINE_REPORTS,或 数据目录/reports)")
    run.add_argument("--source", action="append", metavar="来源", help="只运行这个来源及其下游(可重复;布局名或部门名)")
    run.add_argument("--year", action="append", metavar="年度", help="只运行这个财政年度(可重复;多个年度时运行其间的连续区间)")
    run.add_argument("--fail-on", choices=("error", "warning"),
                     help="运行完成但有该级别(warning 含 error)的问题时,以退出状态 3 结束"
                          "(默认:只有运行失败才非零:1 运行失败或数据仓库无法连接,2 参数有误)")
    run.add_argument("--verbose", action="store_true", help="同时输出 Dagster 的完整运行日志(默认:只输出中文进度和汇总)")
    run.set_defaults(handler=_run)

    serve = commands.add_parser("serve", help="启动 Dagster 网页界面和守护进程(定时任务、传感器)",
                                description="启动 Dagster 网页界面和守护进程(定时任务、收件箱传感器)。")
    serve.add_argument("--host", default="127.0.0.1", metavar="地址", help="监听地址(默认:127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, metavar="端口", help="端口(默认:3000)")
    serve.add_argument("--behind-proxy", action="store_true",
                       help="允许非本机的 --host:前面有做身份认证的反向代理(见 docs/operations.md)(默认:否)")
    serve.set_defaults(handler=guarded(_serve))

    db = commands.add_parser("db", help="数据仓库管理", description="数据仓库管理。").add_subparsers(
        dest="db_command", required=True, title="子命令", parser_class=_ChineseParser)
    roles = db.add_parser("roles", help="创建写入角色和只读角色及其授权(PostgreSQL,可重复执行)",
                          description="创建写入角色和只读角色及其授权(PostgreSQL,可重复执行)。")
    roles.add_argument("--warehouse", type=url_without_password, metavar="地址",
                       help="postgresql+psycopg2://管理员@主机/库,不可带密码(默认:FUND_PIPELINE_WAREHOUSE_URL)")
    roles.set_defaults(handler=_db_roles)

    validate = commands.add_parser(
        "validate", help="检查一张报表是否符合来源布局和规则(报送前自查)",
        description="检查一张报表:显示读到的工作表、行数、年度、金额合计和合计行核对,然后列出问题。\n"
                    "退出状态:0 无错误(可能有警告),1 有错误,2 用法错误(文件不存在、来源未知、布局有误)。",
        epilog=_sources_epilog("--source"))
    validate.add_argument("file", metavar="文件", help="要检查的报表文件(.xlsx)")
    validate.add_argument("--source", metavar="来源", help="来源:布局名(如 transport_disbursements)或部门名(如 交通运输局、会宁县交通运输局)"
                                           "(默认:按文件所在部门文件夹和文件名自动识别)")
    validate.set_defaults(handler=_validate)

    findings = commands.add_parser("findings", help="审计处置:登记问题的处置意见(确认问题/误报/整改中/已整改)",
                                   description="审计处置:按问题编号登记处置意见,或导入审计员在报告工作簿中填写的处置。")
    actions = findings.add_subparsers(dest="action", required=True, title="操作")
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
    if args.handler is not _run:
        # Loading Dagster, dbt and the definitions makes some 300,000 objects and hardly any garbage, yet Python's
        # collector made six full passes over them (0.6 s); a run turns it back on once they are loaded and frozen
        # out of its reach (pipeline/runner.py), every other command at once.
        gc.enable()
    return args.handler(args)


class _OutputWhoseReaderMayLeave:
    """sys.stdout or sys.stderr for the command: once the reader has gone (`fund-pipeline run | head`), what
    is printed is dropped. Otherwise a progress line printed by a step raises BrokenPipeError inside the step,
    which fails it, and Dagster's executor, stopped by the same error, never frees the step's pool slot."""

    def __init__(self, stream):
        self._stream, self._gone = stream, False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
                self._gone = True
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                self._gone = True

    def __getattr__(self, name):
        return getattr(self._stream, name)


def entry() -> None:
    """The `fund-pipeline` command: `main`, then an exit that skips the interpreter's teardown.

    After a run the process holds Dagster's definitions, dbt's manifest and Great Expectations' registry;
    Python's final teardown frees them object by object, 1.5-2.5 s after the last line was printed. Every
    write is closed or committed by then, so once the exit handlers have run (log handlers, the reader's
    worker pool) the process ends at once. Ctrl-C ends it with one line and the shell's status for an
    interrupt (130); any other exception leaves the usual way, with its traceback."""
    global _AS_COMMAND
    _AS_COMMAND = True
    gc.disable()  # while the command loads; see main
    sys.stdout, sys.stderr = _OutputWhoseReaderMayLeave(sys.stdout), _OutputWhoseReaderMayLeave(sys.stderr)
    try:
        code = main()
    except KeyboardInterrupt:  # while loading or between steps (Dagster reports one inside a step itself)
        print("\nfund-pipeline:已中断(Ctrl-C)", file=sys.stderr)
        code = 130
    if not isinstance(code, int):  # None or a message: let sys.exit say it
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`): nothing more can reach it
            pass
    atexit._run_exitfuncs()  # noqa: SLF001 - what a normal exit runs first (logging's shutdown among them)
    os._exit(code)


if __name__ == "__main__":
    entry()
