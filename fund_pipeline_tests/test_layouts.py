"""Department layouts are data: each loads, covers its entity's required fields, and a bad one fails clearly."""

import pytest

from fund_pipeline.sources.spec import LayoutError, load_layouts, parse_layout


def test_every_layout_loads_with_a_unique_name():
    specs = load_layouts()
    assert len(specs) >= 15
    assert len({s.name for s in specs}) == len(specs)


BASE = {"source": "x", "department": "县某局", "entity": "loans", "files": "x/*.xlsx", "header": {"find": "借款人"},
        "columns": {"township": "乡镇", "village": "村", "borrower_name": "借款人", "borrower_id": "身份证号",
                    "amount": "贷款金额", "term_months": "期限", "interest_rate": "利率", "benchmark_rate": "基准利率"},
        "filename_fields": [r"(?P<fiscal_year>\d{4})"]}


def test_a_valid_layout_parses():
    assert parse_layout(BASE).entity == "loans"


@pytest.mark.parametrize("change, message", [
    ({"entity": "nonsense"}, "unknown entity"),
    ({"columns": {**BASE["columns"], "colour": "颜色"}}, "'colour' is not a field of loans"),
    ({"filename_fields": []}, "fiscal_year"),
    ({"unit": "千元"}, "unit"),
])
def test_a_broken_layout_names_its_problem(change, message):
    with pytest.raises(LayoutError, match=message):
        parse_layout(BASE | change, layout_file="x.yaml")
