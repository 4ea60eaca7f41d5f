"""Each file of the broken-and-unusual corpus is read as stated: its data rows and money, and a finding that
names the file, sheet, row and column of every problem. No file stops another."""

from __future__ import annotations

import pytest

from fund_pipeline.pipeline.ingest import ingest
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.sources.spec import layout_by_name
from fund_pipeline_tests.corpus import CASES, build_corpus, matching


def test_the_corpus_has_at_least_thirty_files():
    assert len(CASES) >= 30
    assert len({c.file for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_corpus_file_reads_as_stated(case, tmp_path):
    build_corpus(tmp_path, [case])
    result, records = ingest(layout_by_name(case.source), tmp_path, load_catalogue(), "corpus")
    mine = records[records["source_file"] == case.file]
    kept = mine[mine["_set_aside"].isna()] if "_set_aside" in mine else mine
    assert len(mine) == case.rows
    assert mine["amount"].sum() == pytest.approx(case.amount, abs=0.01)
    if case.name != "同表另存副本":
        assert len(kept) == case.rows
    findings = result.findings
    for expected in case.findings:
        hits = matching(findings, case, expected)
        assert len(hits) >= 1, (expected, findings[["rule_id", "sheet", "row_number", "column_name", "message"]]
                                .to_dict("records"))
        assert hits["message"].str.contains(case.file.split("/")[-1], regex=False).any() or expected[0] in (
            "INGEST-VALUE", "INGEST-REQUIRED", "INGEST-TOTAL", "INGEST-CONTROL-CHAR", "INGEST-HEADER",
            "INGEST-HIDDEN-SHEET")
    expected_rules = {f[0] for f in case.findings}
    unexpected = findings[~findings["rule_id"].isin(expected_rules)]
    assert unexpected.empty, unexpected[["rule_id", "source_file", "row_number", "message"]].to_dict("records")
