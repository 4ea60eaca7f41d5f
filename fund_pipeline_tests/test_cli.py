"""The command line: a clerk's check of one spreadsheet, and the sample generator."""

from fund_pipeline.cli import main
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
