"""Every rule of the catalogue has its own test file here (ingestion rules share one)."""

from pathlib import Path

from fund_pipeline.rules.catalogue import load_catalogue

HERE = Path(__file__).parent


def test_each_rule_has_a_test_file_that_quotes_its_clause():
    missing = []
    for rule in load_catalogue().rules:
        if rule.is_ingest:
            text = (HERE / "test_ingest_rules.py").read_text(encoding="utf-8")
        else:
            path = HERE / f"test_{rule.id.lower().replace('-', '_')}.py"
            text = path.read_text(encoding="utf-8") if path.exists() else ""
        if rule.id not in text or (rule.clause and rule.clause not in text):
            missing.append(rule.id)
    assert missing == []
