"""The code location loads as `dagster dev` would load it."""

import dagster as dg

from fund_pipeline.rules.catalogue import load_catalogue


def test_definitions_load_with_one_check_per_rule():
    from fund_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"landing/poverty_projects", "clean/disbursements", "warehouse/fund_flow", "audit/validation_findings",
            "reports/audit_report"} <= keys
    checks = [k for k in graph.asset_check_keys if k.asset_key == dg.AssetKey(["audit", "validation_findings"])]
    assert sorted(c.name for c in checks) == sorted(r.id.replace("-", "_") for r in load_catalogue().rules)
