"""A county's own configuration outside the package, and layouts that are checked before they are used.

FUND_PIPELINE_CONFIG (or --config) names a folder whose layouts/ add to or replace the built-in ones and
whose reference/ replaces Huining's townships and channels. A broken layout disables its own source only.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from fund_pipeline.configuration import activate
from fund_pipeline.sources.spec import LayoutError, invalid_layouts, load_layouts, parse_layout
from fund_pipeline_tests.corpus import row, write

FORESTRY = textwrap.dedent("""\
    source: forestry_disbursements
    department: 某县林业和草原局
    entity: disbursements
    description: Afforestation payments, one ledger per year.
    files: 林草局/*造林补助拨付台账.xlsx
    filename_fields: ['(?P<fiscal_year>\\d{4})年']
    sheets: 拨付台账
    header: {find: 项目编号}
    unit: 万元
    columns:
      project_code: 项目编号
      project_name: 项目名称
      township: 乡镇
      village: 村
      channel_name: 资金渠道
      purpose: 用途
      amount: [拨付金额(万元), 拨付金额]
      pay_date: 拨付日期
      voucher_no: 凭证号
    ignore_columns: [序号]
    """)
BROKEN = FORESTRY.replace("source: forestry_disbursements", "source: water_supply").replace("sheets:", "sheet:")
TOWNSHIPS = {"county": {"code": "620521", "name": "某县", "prefecture": "某市", "province": "甘肃省"},
             "townships": [{"code": "620521100", "name": "城关镇", "aliases": ["城关"]},
                           {"code": "620521101", "name": "新集镇", "aliases": ["新集乡"]}]}


@pytest.fixture
def county_config(tmp_path):
    config = tmp_path / "config"
    (config / "layouts").mkdir(parents=True)
    (config / "reference").mkdir()
    (config / "layouts" / "forestry.yaml").write_text(FORESTRY, encoding="utf-8")
    (config / "layouts" / "water_supply.yaml").write_text(BROKEN, encoding="utf-8")
    (config / "reference" / "townships.yaml").write_text(yaml.safe_dump(TOWNSHIPS, allow_unicode=True), encoding="utf-8")
    activate(config)
    yield config
    activate(None)


BASE = yaml.safe_load(FORESTRY)


@pytest.mark.parametrize("change, key, words", [
    ({"sheet": "拨付台账"}, "sheet", "未知的键"),
    ({"header": {"find": "项目编号", "row": 2}}, "header.row", "未知的键"),
    ({"files": r"林草局/.*造林.*\.xlsx"}, "files", "正则表达式"),
    ({"sheets": "*台账"}, "sheets", "不是有效的正则表达式"),
    ({"filename_fields": ["(?P<fiscal_year>\\d{4}"]}, "filename_fields", "不是有效的正则表达式"),
    ({"header": {"find": "项目编号", "rows": "two"}}, "header.rows", ""),
    ({"unit": "千元"}, "unit", ""),
    ({"constants": {"colour": "红"}}, "constants", "colour"),
])
def test_a_layout_error_names_the_file_and_the_key(change, key, words):
    raw = {k: v for k, v in BASE.items() if not (k == "sheets" and "sheet" in change)} | change
    with pytest.raises(LayoutError) as error:
        parse_layout(raw, layout_file="forestry.yaml")
    message = str(error.value)
    assert "forestry.yaml" in message and f"「{key}" in message and words in message


def test_county_layouts_add_to_the_built_in_ones_and_a_broken_one_disables_only_itself(county_config):
    names = {s.name for s in load_layouts()}
    assert "forestry_disbursements" in names and "transport_disbursements" in names
    assert "water_supply" not in names
    [broken] = invalid_layouts()
    assert (broken.layout_file, broken.source) == ("water_supply.yaml", "water_supply")
    assert "sheet" in broken.message and "未知的键" in broken.message


def test_a_county_layout_with_a_built_in_name_replaces_it(county_config):
    replacement = FORESTRY.replace("source: forestry_disbursements", "source: transport_disbursements")
    (county_config / "layouts" / "transport.yaml").write_text(replacement, encoding="utf-8")
    activate(county_config)  # a new file in the folder: load again
    from fund_pipeline.sources.spec import layout_by_name

    assert layout_by_name("transport_disbursements").department == "某县林业和草原局"


def test_the_code_location_loads_with_a_broken_layout(county_config):
    from fund_pipeline.defs.assemble import build_definitions
    from fund_pipeline.settings import Settings

    defs = build_definitions(Settings.from_env().with_overrides(config_dir=county_config))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "landing/forestry_disbursements" in keys and "landing/transport_disbursements" in keys
    assert "landing/water_supply" not in keys
    assert {s.name for s in defs.schedules} and {s.name for s in defs.sensors}


def test_county_reference_replaces_the_townships(county_config):
    import pandas as pd

    from fund_pipeline.reference import county, normalise_townships

    names, codes = normalise_townships(pd.Series(["城关", "新集乡", "会师镇"]))
    assert names.tolist()[:2] == ["城关镇", "新集镇"] and codes.tolist()[:2] == ["620521100", "620521101"]
    assert pd.isna(codes.iloc[2]) and county()["name"] == "某县"


def test_a_county_runs_on_its_own_configuration(county_config, dagster_home, tmp_path):
    from fund_pipeline.pipeline.runner import run_pipeline
    from fund_pipeline.settings import Settings
    from fund_pipeline.warehouse import Warehouse

    inbox = tmp_path / "inbox"
    write(inbox / "林草局/2019年造林补助拨付台账.xlsx",
          [row(1, 10, 乡镇="城关", 拨付日期="2019年5月3日"), row(2, 20, 乡镇="新集乡", 拨付日期="2019年6月3日")])
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    settings = Settings.from_env({"FUND_PIPELINE_CONFIG": str(county_config)}).with_overrides(
        inbox=inbox, warehouse_url=url, reports_dir=tmp_path / "reports")
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.error
    warehouse = Warehouse.from_url(url)
    rows = warehouse.query("select township, township_code, fiscal_year, amount from landing.forestry_disbursements "
                           "order by amount")
    assert rows["township_code"].tolist() == ["620521100", "620521101"]
    assert rows["fiscal_year"].tolist() == [2019, 2019] and rows["amount"].sum() == 300_000
    rec = warehouse.query("select * from audit.current_reconciliation where source = 'forestry_disbursements'")
    assert rec["reconciles"].all() and rec["landed"].sum() == 2
    layout = warehouse.query("select source, source_file, message from audit.current_findings "
                             "where rule_id = 'LAYOUT-INVALID'")
    assert layout[["source", "source_file"]].values.tolist() == [["water_supply", "water_supply.yaml"]]


def test_the_cli_takes_the_configuration_folder(county_config, tmp_path):
    import subprocess
    import sys

    activate(None)
    out = subprocess.run([sys.executable, "-c", "import sys; from fund_pipeline.cli import _use_county_config; "
                          "from fund_pipeline.sources.spec import load_layouts; "
                          "_use_county_config(sys.argv[1:]); print(sorted(s.name for s in load_layouts()))",
                          "run", "--config", str(county_config)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent)
    assert "forestry_disbursements" in out.stdout
