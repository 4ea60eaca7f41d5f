"""The command line: a clerk's check of one spreadsheet, and the sample generator."""

import os
import signal
import subprocess
import sys

import pytest

from fund_pipeline.cli import main
from fund_pipeline.settings import PROJECT_ROOT
from fund_pipeline_tests.xlsx_helpers import transport_row, write_sheet


def test_validate_reports_row_and_column_and_fails(tmp_path, capsys):
    path = write_sheet(tmp_path / "台账.xlsx", [transport_row(1), transport_row(2, **{"拨付金额(万元)": -3})])
    assert main(["validate", str(path), "--source", "transport_disbursements"]) == 1
    out = capsys.readouterr().out
    assert "AMOUNT-POSITIVE" in out and "第4行" in out and "台账.xlsx" in out


def test_validate_passes_a_clean_sheet(tmp_path, capsys):
    path = write_sheet(tmp_path / "交通运输局/2016年交通扶贫资金拨付台账.xlsx", [transport_row(1), transport_row(2)])
    assert main(["validate", str(path), "--source", "transport_disbursements"]) == 0
    assert "未发现问题" in capsys.readouterr().out


def test_sample_command_writes_the_county(tmp_path, capsys):
    assert main(["sample", "--out", str(tmp_path / "c"), "--scale", "0.002", "--years", "2016", "--plant-violations"]) == 0
    assert (tmp_path / "c" / "expected_findings.csv").exists()
    assert "预置违规" in capsys.readouterr().out


def test_sample_reuse_keeps_only_an_unedited_sample_of_the_same_parameters(tmp_path, capsys):
    out, small = tmp_path / "c", ["--scale", "0.002", "--years", "2016"]
    assert main(["sample", "--out", str(out), *small, "--reuse"]) == 0
    roster = next(out.rglob("*.xlsx"))
    made = roster.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["sample", "--out", str(out), *small, "--reuse"]) == 0  # the same: left as it is
    assert "沿用" in capsys.readouterr().out and roster.stat().st_mtime_ns == made
    stray = out / "财政局" / "补报.xlsx"
    stray.write_bytes(roster.read_bytes())  # a file the sample did not make: made again from scratch
    assert main(["sample", "--out", str(out), *small, "--reuse"]) == 0
    assert "已写入" in capsys.readouterr().out and not stray.exists()
    roster.write_bytes(roster.read_bytes() + b"\0")  # an edited file
    assert main(["sample", "--out", str(out), *small, "--reuse"]) == 0
    assert "已写入" in capsys.readouterr().out
    assert main(["sample", "--out", str(out), "--scale", "0.003", "--years", "2016", "--reuse"]) == 0  # other parameters
    assert "已写入" in capsys.readouterr().out
    assert main(["sample", "--out", str(out), "--scale", "0.003", "--years", "2016", "--reuse"]) == 0
    assert "沿用" in capsys.readouterr().out
    elsewhere = tmp_path / "inbox"
    (elsewhere / "交通运输局").mkdir(parents=True)
    (elsewhere / "交通运输局" / "台账.xlsx").write_bytes(b"a department's file")
    assert main(["sample", "--out", str(elsewhere), *small, "--reuse"]) == 1  # not the sample's: never deleted
    assert "不会删除" in capsys.readouterr().err and (elsewhere / "交通运输局" / "台账.xlsx").exists()


def _modules_loaded_by(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has imported after running code."""
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_validate_loads_no_orchestration_validation_or_dbt_library(tmp_path):
    """A clerk's check starts in a moment: it never imports Dagster, Great Expectations or dbt."""
    path = write_sheet(tmp_path / "交通运输局/2016年交通扶贫资金拨付台账.xlsx", [transport_row(1), transport_row(2)])
    loaded = _modules_loaded_by(f"from fund_pipeline.cli import main; main(['validate', {str(path)!r}])")
    assert {"fund_pipeline", "pandas"} <= loaded
    assert not loaded & {"dagster", "dagster_dbt", "dbt", "great_expectations"}


def test_the_pipeline_definitions_load_without_great_expectations():
    """Loading the definitions (every `run`, the webserver, the daemon) leaves Great Expectations to the first step
    that validates."""
    loaded = _modules_loaded_by("from fund_pipeline.definitions import defs")
    assert {"fund_pipeline", "dagster", "dagster_dbt"} <= loaded
    assert "great_expectations" not in loaded


def test_rules_run_through_great_expectations_without_scipy_stats():
    """GX's registry imports scipy.stats for distribution expectations no rule uses: a run's first suite
    imports GX (and runs it) without that second of scipy."""
    out = subprocess.run([sys.executable, "-c", (
        "import sys\n"
        "from fund_pipeline_tests.rules.harness import evaluate_rule\n"
        "from fund_pipeline_tests.rules.test_amount_positive import ROW\n"
        "findings = evaluate_rule('AMOUNT-POSITIVE', [ROW | {'amount': 5.0}, ROW | {'amount': -3.0}])\n"
        "print(len(findings), 'great_expectations' in sys.modules, 'scipy.stats._stats_py' in sys.modules)")],
        capture_output=True, text=True, check=True, cwd=PROJECT_ROOT).stdout.split()
    assert out == ["1", "True", "False"]


def test_the_command_keeps_its_exit_status_output_and_exit_handlers(tmp_path):
    """`fund-pipeline` ends without the interpreter's teardown: still with main's status, all its output, and
    the exit handlers run (log handlers, worker pools)."""
    path = write_sheet(tmp_path / "台账.xlsx", [transport_row(1), transport_row(2, **{"拨付金额(万元)": -3})])
    code = ("import atexit, sys\n"
            "atexit.register(print, '退出处理已运行')\n"
            f"sys.argv = ['fund-pipeline', 'validate', {str(path)!r}, '--source', 'transport_disbursements']\n"
            "from fund_pipeline.cli import entry\n"
            "entry()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT)
    assert done.returncode == 1
    assert "AMOUNT-POSITIVE" in done.stdout and done.stdout.rstrip().endswith("退出处理已运行")


def test_ctrl_c_while_the_run_starts_ends_with_one_line(tmp_path, sample_inbox):
    """Ctrl-C while Dagster and dbt load: one Chinese line and the interrupt's status, no traceback."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "FUND_PIPELINE_DATA_DIR": str(tmp_path)}
    (tmp_path / "home").mkdir()
    code = "import sys; sys.argv = ['fund-pipeline', *sys.argv[1:]]; from fund_pipeline.cli import entry; entry()"
    command = [sys.executable, "-c", code, "run", "--inbox", str(sample_inbox),
               "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=PROJECT_ROOT)
    assert child.stdout.readline().startswith("运行流水线")  # printed before dbt and the definitions load
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    if child.returncode == 130:  # in the loading, as almost always
        assert err.strip().splitlines()[-1] == "fund-pipeline:已中断(Ctrl-C)"
    else:  # a machine fast enough to be inside the first step: Dagster's own interruption, reported as such
        assert child.returncode == 1 and "运行被中断" in out + err
    assert "Traceback" not in err


def test_ctrl_c_at_the_terminal_during_the_steps_stops_the_run_without_a_traceback(tmp_path, sample_inbox):
    """A terminal's Ctrl-C signals the whole foreground process group, Dagster's log-mirroring helpers and the
    reader's workers included: only the run reports it, as an interrupted step."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "FUND_PIPELINE_DATA_DIR": str(tmp_path)}
    (tmp_path / "home").mkdir()
    code = "import sys; sys.argv = ['fund-pipeline', *sys.argv[1:]]; from fund_pipeline.cli import entry; entry()"
    command = [sys.executable, "-c", code, "run", "--inbox", str(sample_inbox),
               "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}", "--reports", str(tmp_path / "reports")]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=PROJECT_ROOT, start_new_session=True)  # its own group, as a terminal's job
    lines = iter(child.stdout.readline, "")
    assert any(line.startswith("[") for line in lines)  # a step has reported: the run is under way
    os.killpg(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 1 and "运行被中断" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_run_reads_the_large_source_ahead_and_lands_it_after_the_others(tmp_path, dagster_home, capsys, monkeypatch):
    """On the default sample (its rosters are 3 MB) `run` reads the new files ahead, says so, and lands the
    rosters after every other source."""
    from fund_pipeline.sample import generate

    generate(tmp_path / "inbox", scale=0.02)
    monkeypatch.setenv("FUND_PIPELINE_DATA_DIR", str(tmp_path))  # a landing cache of its own: every file is new
    assert main(["run", "--inbox", str(tmp_path / "inbox"), "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}",
                 "--reports", str(tmp_path / "reports")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "数据量大的来源(agriculture_policy_subsidies)在其他来源之后落地" in lines[1]
    landed = [line for line in lines if line.startswith("[") and "] 读取 " in line]  # the progress lines
    assert len(landed) > 10 and "agriculture_policy_subsidies" in landed[-1]


def test_every_command_is_listed_and_described(capsys):
    """`fund-pipeline --help` lists every command (findings among them), and `findings --help` says what it is for."""
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "{sample,run,serve,db,validate,findings}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["findings", "--help"])
    out = capsys.readouterr().out
    assert "按问题编号登记处置意见" in out and "{dispose,import}" in out


def test_the_collector_is_off_while_a_command_loads_and_a_run_freezes_what_it_loaded(tmp_path, dagster_home, sample_inbox):
    """Loading Dagster, dbt and the definitions makes some 300,000 objects and no garbage: the command turns the
    garbage collector off meanwhile (six full passes over them cost a re-sent ledger 0.6 s), and a run freezes
    them out of its reach once loaded (`gc.freeze`). Every command ends with the collector on."""
    def collector_at_exit(*argv: str) -> tuple[int, str]:
        code = ("import atexit, gc, sys\n"
                "atexit.register(lambda: print('收集器', gc.isenabled(), gc.get_freeze_count()))\n"
                f"sys.argv = ['fund-pipeline', *{list(argv)!r}]\n"
                "from fund_pipeline.cli import entry\n"
                "entry()")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                              env={**os.environ, "FUND_PIPELINE_DATA_DIR": str(tmp_path)})
        return done.returncode, done.stdout.rstrip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]

    sheet = write_sheet(tmp_path / "台账.xlsx", [transport_row(1)])
    code, said = collector_at_exit("validate", str(sheet), "--source", "transport_disbursements")
    assert code == 0 and said == "收集器 True 0"
    code, said = collector_at_exit("run", "--inbox", str(sample_inbox), "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}",
                                   "--reports", str(tmp_path / "reports"), "--source", "审计局")
    enabled, frozen = said.split()[1:]
    assert code == 0 and enabled == "True" and int(frozen) > 100_000, said


def test_a_run_in_a_process_that_goes_on_freezes_nothing(tmp_path, dagster_home, sample_inbox):
    """Tests and the service run pipelines in processes that outlive the run: nothing is frozen there."""
    import gc

    from fund_pipeline.pipeline.runner import run_pipeline, sources_selection
    from fund_pipeline.settings import Settings

    settings = Settings.from_env().with_overrides(inbox=sample_inbox, warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}",
                                                  reports_dir=tmp_path / "reports")
    outcome = run_pipeline(settings, selection=sources_selection(["审计局"]))
    assert outcome.success, outcome.error
    assert gc.get_freeze_count() == 0 and gc.isenabled()
