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



def test_every_checks_expected_sentence_is_in_chinese():
    """What the report's 应为 column says for each check of each target: wording.yaml's sentence or one composed
    from the check, never an internal field name (a check added without its sentence would show one)."""
    import re

    from fund_pipeline.rules.validation import compile_rules

    english = {}
    for rule in load_catalogue().rules:
        for target in dict.fromkeys(check.target or rule.target for check in rule.checks):
            for compiled in compile_rules([rule], target, [2016]):
                if re.search(r"[A-Za-z_]{3,}", compiled.expected_text.replace("{allowed_purposes}", "")):
                    english[(rule.id, target)] = compiled.expected_text
    assert english == {}


def test_each_target_of_a_rule_reads_its_own_checks_sentence():
    """A rule checked on several targets words each check on its own: the household payments' check of
    TARGETED speaks of households, not of the ledgers' villages."""
    from fund_pipeline.rules.validation import compile_rules

    rule = load_catalogue().rule("TARGETED")
    sentences = {target: [c.expected_text for c in compile_rules([rule], target, [2016])]
                 for target in ("disbursements", "household_payments")}
    assert sentences == {"disbursements": ["财政专项扶贫资金应拨到建档立卡贫困村"],
                         "household_payments": ["财政专项扶贫资金应发给建档立卡贫困户"]}
