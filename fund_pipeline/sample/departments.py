"""Each department's spreadsheets for one sample county, in that department's own layout.

Money adds up the way a county's does: projects are budgeted within the receipts of their
channel, paid within their budget, and audited; household rosters pay registered households.
Planted violations are recorded with the exact file, sheet and Excel row they sit on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fund_pipeline.reference import channels, township_lookup
from fund_pipeline.sample.county import County, person_names
from fund_pipeline.sample.workbook import Table, write_workbook

INFRA_BY_DEPARTMENT = {
    "transport": ["道路"],
    "water": ["水利", "农田", "农电", "生态"],
}
INDUSTRY = ["蔬菜", "林果", "中药材", "暖棚养殖"]
LINE_BUDGET_WAN = 98_000.0  # 万元 budgeted to line projects a year
SCHOOLS = ["会宁县职业中等专业学校", "白银矿冶职业技术学院", "甘肃农业职业技术学院", "兰州石化职业技术学院"]
POLICY_ITEMS = [  # (item, period month, yuan per household member in 2015; rates rise 3% a year)
    ("耕地地力保护补贴", 6, 200.0),
    ("草原生态保护补助奖励", 9, 150.0),
    ("退耕还林补助", 3, 130.0),
    ("退耕还林补助", 6, 130.0),
    ("退耕还林补助", 9, 130.0),
    ("退耕还林补助", 12, 130.0),
    ("农业保险保费补贴", 11, 40.0),
]


@dataclass
class Plants:
    """Planted violations: where each one was written."""

    enabled: bool
    rows: list = field(default_factory=list)

    def add(self, rule_id: str, source: str, source_file: str, sheet: str, excel_rows) -> None:
        for r in np.atleast_1d(excel_rows):
            self.rows.append((rule_id, source, source_file, sheet, int(r)))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["rule_id", "source", "source_file", "sheet", "row_number"])


@dataclass
class SampleContext:
    out: Path
    county: County
    years: list[int]
    rng: np.random.Generator
    scale: float
    plants: Plants

    def pick(self, n: int, size: int) -> np.ndarray:
        """Indices of n distinct rows out of size, for planting."""
        return self.rng.choice(size, min(n, size), replace=False) if self.plants.enabled else np.array([], dtype=int)

    def pick_where(self, n: int, allowed) -> np.ndarray:
        """Indices of n distinct rows among those allowed (a boolean mask), for planting."""
        candidates = np.flatnonzero(np.asarray(allowed, dtype=bool))
        return candidates[self.pick(n, len(candidates))]


def _wan(yuan) -> pd.Series:
    return (pd.Series(yuan, dtype=float) / 10_000).round(4)


def _date_in(rng, year: int, n: int, start_month: int = 3, end_month: int = 11) -> pd.Series:
    start = pd.Timestamp(year=year, month=start_month, day=1)
    span = (pd.Timestamp(year=year, month=end_month, day=28) - start).days
    return pd.Series(start + pd.to_timedelta(rng.integers(0, span, n), unit="D"))


def _short_township(name: str, rng) -> str:
    """Departments often write the short or pre-2015 form of a township's name."""
    aliases = [a for a, t in township_lookup().items() if t.name == name and a != name]
    return str(rng.choice(aliases)) if aliases and rng.random() < 0.5 else name


# ---------------------------------------------------------------- finance bureau

def finance(ctx: SampleContext) -> dict[int, float]:
    """New fiscal revenue and poverty allocation; integrated-fund receipts are written later, from the budgets."""
    rng, rows = ctx.rng, []
    for year in ctx.years:
        revenue = round(17_000 + 2_600 * (year - 2015) + rng.uniform(0, 900), 2)
        share = 0.18 if (ctx.plants.enabled and year == 2016) else 0.22 + 0.015 * (year - 2015)  # rising, as the policy asks
        recovered = round(rng.uniform(4_000, 7_000), 2)
        usable = round(recovered * rng.uniform(0.7, 0.9), 2)
        rows.append((f"{year}年", revenue, round(revenue * share, 2), recovered, usable,
                     round(usable * rng.uniform(0.52, 0.65), 2)))
    frame = pd.DataFrame(rows, columns=["年度", "新增财力", "扶贫", "收回", "可统筹", "统筹扶贫"])
    rel = "财政局/会宁县财政扶贫投入情况表.xlsx"
    [numbers] = write_workbook(ctx.out / rel, [Table(
        sheet="扶贫投入", title="会宁县县级财政扶贫投入情况表", unit_line="单位:万元",
        header=["年度", "当年新增财力", "用于精准扶贫资金", ("清理收回存量资金", ["收回金额", "其中:可统筹使用", "统筹用于扶贫"])],
        rows=frame, total=None,
    )])
    if ctx.plants.enabled and 2016 in ctx.years:
        ctx.plants.add("FISCAL-20", "finance_fiscal", rel, "扶贫投入", numbers[frame["年度"] == "2016年"])
        if 2015 in ctx.years:  # the 2016 allocation then also falls below 2015's
            ctx.plants.add("FISCAL-GROWTH", "finance_fiscal", rel, "扶贫投入", numbers[frame["年度"] == "2016年"])
    return dict(zip(ctx.years, frame["扶贫"], strict=True))


def receipts(ctx: SampleContext, projects: pd.DataFrame) -> None:
    """Receipts per channel cover the channel's budgets with a margin, split by government level."""
    rng = ctx.rng
    for year in ctx.years:
        budgets = projects[projects["fiscal_year"] == year].groupby("channel_name")["budget_wan"].sum()
        rows = []
        for channel, budget in budgets.items():
            total = budget / rng.uniform(0.90, 0.97)
            levels = [("中央", 0.6), ("省级", 0.25), ("市级", 0.05), ("县级", 0.10)]
            for level, part in levels:
                rows.append((channel, level, f"甘财农〔{year}〕{rng.integers(10, 300)}号",
                             _date_in(rng, year, 1, 1, 6).iloc[0], round(total * part + 0.005, 2)))
        frame = pd.DataFrame(rows, columns=["资金渠道", "资金级次", "指标文号", "到位时间", "到位金额"])
        frame.insert(0, "序号", range(1, len(frame) + 1))
        write_workbook(ctx.out / f"财政局/{year}年统筹整合财政涉农资金到位情况表.xlsx", [Table(
            sheet="资金到位", title=f"会宁县{year}年统筹整合财政涉农资金到位情况表", unit_line="单位:万元",
            header=["序号", ("资金来源", ["资金渠道", "资金级次"]), "指标文号", "到位时间", "到位金额"],
            rows=frame, total="top", sum_columns=["到位金额"], date_style="chinese",
        )])


# ---------------------------------------------------------------- poverty office: registers

def registers(ctx: SampleContext) -> None:
    v = ctx.county.villages
    frame = pd.DataFrame({
        "序号": range(1, len(v) + 1), "乡镇": v["township"], "村名": v["village"], "村代码": v["village_code"],
        "是否贫困村": np.where(v["is_poor_village"], "是", "否"), "户数": v["households"], "人口": v["population"],
    })
    write_workbook(ctx.out / "扶贫办/会宁县行政村名录.xlsx", [Table(
        sheet="村名录", title="会宁县行政村基本情况名录", header=list(frame.columns), rows=frame, total=None,
        text_columns=["村代码"],
    )])
    poor = ctx.county.households[ctx.county.households["is_poor"]]
    frame = pd.DataFrame({
        "序号": range(1, len(poor) + 1), "乡镇": poor["township"].to_numpy(), "村": poor["village"].to_numpy(),
        "户主姓名": poor["head_name"].to_numpy(), "身份证号": poor["household_id"].to_numpy(),
        "家庭人口": poor["household_size"].to_numpy(), "识别年度": ctx.rng.choice([2013, 2014], len(poor)),
    })
    write_workbook(ctx.out / "扶贫办/会宁县建档立卡贫困户花名册.xlsx", [Table(
        sheet="贫困户", title="会宁县建档立卡贫困户花名册", header=list(frame.columns), rows=frame, total=None,
        text_columns=["身份证号"],
    )], big=len(frame) > 50_000)


# ---------------------------------------------------------------- projects and disbursements

def _line_projects(ctx: SampleContext, year: int) -> pd.DataFrame:
    rng, villages = ctx.rng, ctx.county.villages
    ch = channels()
    specs = [("transport", p) for p in INFRA_BY_DEPARTMENT["transport"]] * 12 + \
            [("water", p) for p in INFRA_BY_DEPARTMENT["water"]] * 5 + [("agriculture", p) for p in INDUSTRY] * 6
    n = len(specs)
    department = np.array([s[0] for s in specs])
    purpose = np.array([s[1] for s in specs])
    # a channel that allows the purpose, never the household-roster-only channels
    channel = np.array([rng.choice(ch.loc[ch["purposes"].map(lambda ps, p=p: p in ps) & ~ch["channel_code"].isin(["C11", "C13", "C15"]),
                                          "channel_name"].to_numpy()) for p in purpose])
    special = np.isin(channel, ch.loc[ch["special_poverty"], "channel_name"])
    poor_v, other_v = villages[villages["is_poor_village"]], villages[~villages["is_poor_village"]]
    in_poor = special | (rng.random(n) < 0.55)
    chosen = np.where(in_poor, rng.integers(0, len(poor_v), n), rng.integers(0, len(other_v), n))
    place = pd.concat([poor_v.iloc[chosen[in_poor]], other_v.iloc[chosen[~in_poor]]]).reset_index(drop=True)
    order = np.concatenate([np.flatnonzero(in_poor), np.flatnonzero(~in_poor)])
    place.index = order
    place = place.sort_index()
    budget = rng.lognormal(np.log(1500), 0.5, n)
    budget = (budget * LINE_BUDGET_WAN / budget.sum()).round(2)  # a county-year of about 10亿 integrated funds
    beneficiaries = rng.integers(40, 400, n)
    poor_share = np.where(place["is_poor_village"], rng.uniform(0.72, 0.95, n), rng.uniform(0.35, 0.6, n))
    return pd.DataFrame({
        "department": department, "category": np.where(department == "agriculture", "产业发展", "基础设施"),
        "purpose": purpose, "channel_name": channel, "township": place["township"].to_numpy(),
        "village": place["village"].to_numpy(), "budget_wan": budget,
        "beneficiary_households": beneficiaries, "beneficiary_poor": (beneficiaries * poor_share).astype(int),
        "implementing_unit": np.where(department == "transport", "会宁县交通运输局",
                                      np.where(department == "water", "会宁县水务局", place["township"].to_numpy() + "人民政府")),
    })


def projects_and_ledgers(ctx: SampleContext, roster_budgets: pd.DataFrame) -> pd.DataFrame:
    """Project library per year, then each line department's disbursement ledger."""
    rng, all_projects = ctx.rng, []
    for year in ctx.years:
        line = _line_projects(ctx, year)
        roster = roster_budgets[roster_budgets["fiscal_year"] == year].drop(columns="fiscal_year")
        projects = pd.concat([line, roster], ignore_index=True)
        projects["fiscal_year"] = year
        projects.loc[: len(line) - 1, "project_code"] = [f"HN{year}-{i + 1:03d}" for i in range(len(line))]
        content = {"道路": "村组道路硬化{}公里", "水利": "人饮工程管网{}公里", "农田": "梯田改造{}亩", "农电": "农网改造{}台区",
                   "生态": "生态林建设{}亩", "蔬菜": "日光温室{}座", "林果": "经济林{}亩", "中药材": "中药材种植{}亩",
                   "暖棚养殖": "标准化暖棚{}座"}
        projects["project_name"] = projects["village"].fillna(projects["township"]) + projects["purpose"] + "项目"
        projects["content"] = [content.get(p, "补助{}户").format(int(k)) for p, k in zip(projects["purpose"], rng.integers(2, 60, len(projects)), strict=True)]
        projects["responsible_person"] = person_names(rng, len(projects))
        pub_start = _date_in(rng, year, len(projects), 1, 2)
        projects["publicity_start"] = pub_start
        projects["publicity_end"] = pub_start + pd.to_timedelta(rng.integers(10, 16, len(projects)), unit="D")
        projects["publicity_place"] = projects["village"].fillna(projects["township"]) + "公示栏"
        projects["performance_target"] = "受益贫困户" + projects["beneficiary_poor"].astype(str) + "户,项目验收合格率100%"
        projects["planned_start"] = projects["publicity_end"] + pd.Timedelta(days=5)
        projects["planned_end"] = pd.Timestamp(year=year, month=11, day=30)
        planted = ctx.pick(5, len(line))
        bad_publicity, no_person, unaudited, overspent = planted[:2], planted[2:3], planted[3:4], planted[4:5]
        projects.loc[bad_publicity, "publicity_end"] = projects.loc[bad_publicity, "publicity_start"] + pd.Timedelta(days=3)
        projects["responsible_person"] = projects["responsible_person"].astype(object)
        projects.loc[no_person, "responsible_person"] = None
        projects["audited"] = True
        projects.loc[unaudited, "audited"] = False
        projects["overspent"] = False
        projects.loc[overspent, "overspent"] = True
        projects["project_planted"] = False
        projects.loc[planted, "project_planted"] = True
        all_projects.append(projects)
        numbers = _write_project_library(ctx, year, projects)
        rel = f"扶贫办/{year}年扶贫项目库.xlsx"
        ctx.plants.add("PUBLICITY", "poverty_projects", rel, "项目库", numbers.iloc[bad_publicity])
        ctx.plants.add("RESPONSIBILITY", "poverty_projects", rel, "项目库", numbers.iloc[no_person])
        ctx.plants.add("AUDIT", "poverty_projects", rel, "项目库", numbers.iloc[unaudited])
        ctx.plants.add("WITHIN-BUDGET", "poverty_projects", rel, "项目库", numbers.iloc[overspent])
    projects = pd.concat(all_projects, ignore_index=True)
    _ledgers(ctx, projects[projects["department"].isin(["transport", "water", "agriculture"])])
    return projects


def _write_project_library(ctx: SampleContext, year: int, p: pd.DataFrame) -> pd.Series:
    parts = np.array([0.6, 0.25, 0.05, 0.10])
    split = np.outer(p["budget_wan"], parts).round(2)
    split[:, 0] = (p["budget_wan"] - split[:, 1:].sum(axis=1)).round(2)
    frame = pd.DataFrame({
        "序号": range(1, len(p) + 1), "项目编号": p["project_code"], "项目名称": p["project_name"], "项目类别": p["category"],
        "建设内容类别": p["purpose"], "建设性质": ctx.rng.choice(["新建", "续建", "改建"], len(p)),
        "乡镇": p["township"], "村": p["village"], "建设内容及规模": p["content"], "合计": p["budget_wan"],
        "中央": split[:, 0], "省级": split[:, 1], "市级": split[:, 2], "县级": split[:, 3],
        "资金渠道": p["channel_name"], "实施单位": p["implementing_unit"], "责任人": p["responsible_person"],
        "受益户数": p["beneficiary_households"], "其中贫困户": p["beneficiary_poor"], "绩效目标": p["performance_target"],
        "计划开工": p["planned_start"], "计划完工": p["planned_end"], "公示开始": p["publicity_start"],
        "公示结束": p["publicity_end"], "公示地点": p["publicity_place"],
    })
    [numbers] = write_workbook(ctx.out / f"扶贫办/{year}年扶贫项目库.xlsx", [Table(
        sheet="项目库", title=f"会宁县{year}年脱贫攻坚项目库", unit_line="单位:万元",
        header=["序号", "项目编号", "项目名称", "项目类别", "建设内容类别", "建设性质", ("实施地点", ["乡镇", "村"]),
                "建设内容及规模", ("资金规模", ["合计", "中央", "省级", "市级", "县级"]), "资金渠道", "实施单位", "责任人",
                ("受益户数", ["受益户数", "其中贫困户"]), "绩效目标", "计划开工", "计划完工", "公示开始", "公示结束", "公示地点"],
        rows=frame, total="bottom", total_label_column=1, sum_columns=["合计", "中央", "省级", "市级", "县级"], index_row=True,
    )])
    return numbers


def _payments(ctx: SampleContext, projects: pd.DataFrame) -> pd.DataFrame:
    """1-3 payments per project, 85-100% of its budget, after its publicity ends."""
    rng = ctx.rng
    count = rng.integers(1, 4, len(projects))
    pay = projects.loc[projects.index.repeat(count)].reset_index(drop=True)
    share = rng.uniform(0.85, 1.0, len(projects)) / count
    share = np.where(projects["overspent"].to_numpy(dtype=bool), 1.3 / count, share)  # planted WITHIN-BUDGET
    pay["amount_yuan"] = (np.repeat(projects["budget_wan"].to_numpy() * 10_000 * share, count) / 100).round() * 100
    offset = rng.integers(20, 200, len(pay))
    pay["pay_date"] = pay["publicity_end"] + pd.to_timedelta(offset, unit="D")
    year_end = pd.to_datetime(pay["fiscal_year"].astype(str) + "-12-20")
    pay["pay_date"] = pay["pay_date"].where(pay["pay_date"] <= year_end, year_end)
    pay["voucher"] = "记-" + pd.Series(rng.integers(1, 999, len(pay))).astype(str).str.zfill(3)
    pay["plain"] = ~pay["project_planted"].to_numpy(dtype=bool)  # row plants avoid projects planted as a whole
    return pay


def _budget_breakers(pays: pd.DataFrame) -> np.ndarray:
    """Positions of the payments that take an overspent project's cumulative spending (by payment date, then
    sheet order) past its budget: each is a WITHIN-BUDGET finding beside the project's own."""
    order = pays.assign(_pos=np.arange(len(pays))).sort_values(["pay_date", "_pos"], kind="stable")
    spent = order.groupby("project_code")["amount_yuan"].cumsum()
    over = order[(spent > order["budget_wan"] * 10_000) & order["overspent"].astype(bool)]
    return over["_pos"].to_numpy()


def _ledgers(ctx: SampleContext, projects: pd.DataFrame) -> None:
    rng = ctx.rng
    pays = _payments(ctx, projects)
    special = set(channels().loc[channels()["special_poverty"], "channel_name"])
    for year in ctx.years:
        # transport: 万元, Chinese dates, one sheet per year-file, total at the bottom
        t = pays[(pays["department"] == "transport") & (pays["fiscal_year"] == year)].reset_index(drop=True)
        frame = pd.DataFrame({"序号": range(1, len(t) + 1), "项目编号": t["project_code"], "项目名称": t["project_name"],
                              "乡镇": t["township"], "村": t["village"], "资金渠道": t["channel_name"], "用途": t["purpose"],
                              "拨付金额(万元)": _wan(t["amount_yuan"]), "拨付日期": t["pay_date"], "凭证号": t["voucher"]})
        chosen = ctx.pick_where(2, t["plain"])
        negative, unknown = chosen[:1], chosen[1:]
        frame.loc[negative, "拨付金额(万元)"] = -frame.loc[negative, "拨付金额(万元)"]
        frame.loc[unknown, "村"] = "不存在村"
        frame.loc[unknown, "资金渠道"] = "车辆购置税收入补助地方用于一般公路建设项目资金"
        rel = f"交通运输局/{year}年交通扶贫资金拨付台账.xlsx"
        [numbers] = write_workbook(ctx.out / rel, [Table(
            sheet="拨付台账", title=f"会宁县交通运输局{year}年扶贫项目资金拨付台账", unit_line=None,
            header=list(frame.columns), rows=frame, sum_columns=["拨付金额(万元)"], date_style="chinese")])
        ctx.plants.add("AMOUNT-POSITIVE", "transport_disbursements", rel, "拨付台账", numbers.iloc[negative])
        ctx.plants.add("VILLAGE-KNOWN", "transport_disbursements", rel, "拨付台账", numbers.iloc[unknown])
        # the changed channel is no longer the one the project was allocated from (渠道不乱)
        moved = unknown[t.loc[unknown, "channel_name"].to_numpy() != "车辆购置税收入补助地方用于一般公路建设项目资金"]
        ctx.plants.add("CHANNEL", "transport_disbursements", rel, "拨付台账", numbers.iloc[moved])
        ctx.plants.add("WITHIN-BUDGET", "transport_disbursements", rel, "拨付台账", numbers.iloc[_budget_breakers(t)])

    # water: one workbook, a sheet per year, 元, merged headers, township subtotals, short township names
    tables, planted = [], []
    for year in ctx.years:
        w = pays[(pays["department"] == "water") & (pays["fiscal_year"] == year)].sort_values("township").reset_index(drop=True)
        spelling = {t: _short_township(t, rng) for t in w["township"].unique()}
        frame = pd.DataFrame({"序号": range(1, len(w) + 1), "编号": w["project_code"], "名称": w["project_name"],
                              "乡镇": w["township"].map(spelling), "行政村": w["village"],
                              "来源渠道": w["channel_name"], "支出用途": w["purpose"], "支出金额(元)": w["amount_yuan"].astype(object),
                              "支付日期": w["pay_date"], "凭证编号": w["voucher"]})
        chosen = ctx.pick_where(2, w["plain"])
        text_amount, channel_misuse = chosen[:1], chosen[1:]
        frame.loc[text_amount, "支出金额(元)"] = "待定"
        frame.loc[channel_misuse, "支出用途"] = "办公经费"
        planted.append((year, text_amount, channel_misuse, _budget_breakers(w)))
        tables.append(Table(
            sheet=f"{year}年", title=f"会宁县水务局{year}年水利扶贫项目资金支出明细", unit_line="单位:元",
            header=["序号", ("项目信息", ["编号", "名称"]), ("实施地点", ["乡镇", "行政村"]),
                    ("资金", ["来源渠道", "支出用途", "支出金额(元)"]), "支付日期", "凭证编号"],
            rows=frame, sum_columns=["支出金额(元)"], subtotal_by="乡镇", date_style="dotted"))
    rel = "水务局/水利扶贫项目资金支出明细.xlsx"
    numbers = write_workbook(ctx.out / rel, tables)
    for (year, text_amount, misuse, breakers), nums in zip(planted, numbers, strict=True):
        ctx.plants.add("INGEST-VALUE", "water_disbursements", rel, f"{year}年", nums.iloc[text_amount])
        ctx.plants.add("CHANNEL", "water_disbursements", rel, f"{year}年", nums.iloc[misuse])
        ctx.plants.add("WITHIN-BUDGET", "water_disbursements", rel, f"{year}年", nums.iloc[breakers])

    # agriculture: 元 in a unit cell, total at the top, Excel date cells, a leading blank row
    for year in ctx.years:
        a = pays[(pays["department"] == "agriculture") & (pays["fiscal_year"] == year)].reset_index(drop=True)
        frame = pd.DataFrame({"项目代码": a["project_code"], "项目": a["project_name"], "镇": a["township"], "村名": a["village"],
                              "资金来源": a["channel_name"], "资金用途": a["purpose"], "兑付金额": a["amount_yuan"],
                              "兑付时间": a["pay_date"], "记账凭证": a["voucher"]})
        late_and_unknown = ctx.pick_where(2, a["plain"])
        late, unknown_project = late_and_unknown[:1], late_and_unknown[1:]
        frame.loc[late, "兑付时间"] = pd.Timestamp(year=year + 1, month=2, day=3)
        frame.loc[unknown_project, "项目代码"] = f"HN{year}-999"
        # a special poverty fund paid in a village that is not poor
        untargeted = ctx.pick_where(1, ~frame["资金来源"].isin(special).to_numpy() & a["plain"].to_numpy()
                                    & ~np.isin(np.arange(len(frame)), late_and_unknown))
        non_poor = ctx.county.villages[~ctx.county.villages["is_poor_village"]].iloc[0]
        frame.loc[untargeted, ["镇", "村名", "资金来源"]] = [non_poor["township"], non_poor["village"], "财政专项扶贫资金"]
        rel = f"农业农村局/{year}产业扶贫资金兑付表.xlsx"
        [numbers] = write_workbook(ctx.out / rel, [Table(
            sheet="Sheet1", title=f"{year}年产业扶贫到户资金兑付表", unit_line="单位:元", header=list(frame.columns),
            rows=frame, total="top", total_label_column=1, sum_columns=["兑付金额"], leading_blank_rows=1)])
        ctx.plants.add("DATE-IN-YEAR", "agriculture_disbursements", rel, "Sheet1", numbers.iloc[late])
        ctx.plants.add("PROJECT-KNOWN", "agriculture_disbursements", rel, "Sheet1", numbers.iloc[unknown_project])
        ctx.plants.add("TARGETED", "agriculture_disbursements", rel, "Sheet1", numbers.iloc[untargeted])
        ctx.plants.add("CHANNEL", "agriculture_disbursements", rel, "Sheet1", numbers.iloc[untargeted])  # not its project's
        ctx.plants.add("WITHIN-BUDGET", "agriculture_disbursements", rel, "Sheet1", numbers.iloc[_budget_breakers(a)])


# ---------------------------------------------------------------- household rosters

def household_rosters(ctx: SampleContext) -> pd.DataFrame:
    """Yulu, housing and relocation rosters; returns the budgets of the projects that fund them."""
    rng, hh = ctx.rng, ctx.county.households
    poor = hh[hh["is_poor"]].reset_index(drop=True)
    budgets = []
    for year in ctx.years:
        yulu = poor.iloc[rng.choice(len(poor), min(len(poor), max(int(1500 * ctx.scale), 20)), replace=False)]
        yulu = pd.concat([yulu.assign(period=f"{year}03"), yulu.assign(period=f"{year}09")], ignore_index=True)
        yulu["amount"] = 1500.0
        yulu["school"] = rng.choice(SCHOOLS, len(yulu))
        yulu["payee"] = yulu["head_name"]
        budgets.append(_write_yulu(ctx, year, yulu))
        housing_n = max(int(5200 * ctx.scale), 40)
        take_poor = rng.choice(len(poor), min(len(poor), int(housing_n * 0.8)), replace=False)
        others = hh[~hh["is_poor"]]
        take_other = rng.choice(len(others), housing_n - len(take_poor), replace=False)
        housing = pd.concat([poor.iloc[take_poor], others.iloc[take_other]], ignore_index=True)
        housing["amount"] = np.where(housing["is_poor"], 20_000.0, 10_000.0)
        budgets.append(_write_housing(ctx, year, housing))
        moved = poor.iloc[rng.choice(len(poor), min(len(poor), max(int(2000 * ctx.scale), 20)), replace=False)].copy()
        moved["amount"] = moved["household_size"] * 8_000.0
        budgets.append(_write_relocation(ctx, year, moved))
    return pd.concat(budgets, ignore_index=True)


def _roster_projects(year: int, roster: pd.DataFrame, category: str, purpose: str, channel: str, unit: str,
                     prefix: str) -> pd.DataFrame:
    """One project per township funds a roster: HN2016-Y03 is the third township's Yulu project of 2016."""
    grouped = roster.groupby("township").agg(budget=("amount", "sum"), n=("household_id", "nunique"))
    return pd.DataFrame({
        "project_code": [f"HN{year}-{prefix}{i + 1:02d}" for i in range(len(grouped))],
        "department": "roster", "category": category, "purpose": purpose, "channel_name": channel,
        "township": grouped.index, "village": pd.NA, "budget_wan": (grouped["budget"] / 10_000).round(4).to_numpy(),
        "beneficiary_households": grouped["n"].to_numpy(), "beneficiary_poor": grouped["n"].to_numpy(),
        "implementing_unit": unit, "fiscal_year": year,
    })


def _write_yulu(ctx, year, r) -> pd.DataFrame:
    r = r.reset_index(drop=True)
    projects = _roster_projects(year, r, "教育培训", "雨露计划", "财政专项扶贫资金", "会宁县扶贫办", "Y")
    direct = ctx.pick(2, len(r))
    r.loc[direct, "payee"] = r.loc[direct, "school"]
    frame = pd.DataFrame({"序号": range(1, len(r) + 1), "乡镇": r["township"], "村": r["village"], "户主姓名": r["head_name"],
                          "身份证号": r["household_id"], "家庭人口": r["household_size"], "学生姓名": person_names(ctx.rng, len(r)),
                          "就读学校": r["school"], "补贴项目": "雨露计划职业教育补助", "补贴期号": r["period"],
                          "补贴金额(元)": r["amount"], "发放时间": pd.to_datetime(r["period"], format="%Y%m") + pd.Timedelta(days=14),
                          "收款人": r["payee"], "账号": r["account_no"], "项目编号": _roster_code(year, projects, r)})
    rel = f"扶贫办/{year}年雨露计划补助发放花名册.xlsx"
    [numbers] = write_workbook(ctx.out / rel, [Table(sheet="花名册", title=f"会宁县{year}年雨露计划补助资金发放花名册",
                                                     unit_line="单位:元", header=list(frame.columns), rows=frame,
                                                     sum_columns=["补贴金额(元)"], text_columns=["身份证号", "账号", "补贴期号"])])
    ctx.plants.add("DIRECT-PAY", "poverty_yulu", rel, "花名册", numbers.iloc[direct])
    return projects


def _roster_code(year, projects, roster) -> pd.Series:
    return roster["township"].map(dict(zip(projects["township"], projects["project_code"], strict=True)))


def _write_housing(ctx, year, r) -> pd.DataFrame:
    r = r.reset_index(drop=True)
    projects = _roster_projects(year, r, "危房改造", "危房改造", "农村危房改造补助资金", "会宁县住房和城乡建设局", "H")
    frame = pd.DataFrame({"序号": range(1, len(r) + 1), "乡镇": r["township"], "村": r["village"], "户主姓名": r["head_name"],
                          "身份证号": r["household_id"], "家庭人口": r["household_size"],
                          "是否贫困户": np.where(r["is_poor"], "是", "否"), "改造方式": ctx.rng.choice(["拆除重建", "修缮加固"], len(r)),
                          "补助金额(元)": r["amount"], "发放时间": _date_in(ctx.rng, year, len(r), 5, 11),
                          "账号": r["account_no"], "项目编号": _roster_code(year, projects, r)})
    write_workbook(ctx.out / f"住建局/{year}年农村危房改造补助资金发放花名册.xlsx", [Table(
        sheet="发放花名册", title=f"会宁县{year}年农村危房改造补助资金发放花名册", unit_line="单位:元", header=list(frame.columns),
        rows=frame, sum_columns=["补助金额(元)"], text_columns=["身份证号", "账号"], date_style="chinese")])
    return projects


def _write_relocation(ctx, year, r) -> pd.DataFrame:
    r = r.reset_index(drop=True)
    projects = _roster_projects(year, r, "易地搬迁", "易地搬迁", "财政专项扶贫资金", "会宁县发展和改革局", "R")
    masked = ctx.pick(1, len(r))
    r["household_id"] = r["household_id"].astype(object)
    r.loc[masked, "household_id"] = r.loc[masked, "household_id"].str.slice(0, 4) + "**********" + r.loc[masked, "household_id"].str.slice(14)
    frame = pd.DataFrame({"序号": range(1, len(r) + 1), "户主": r["head_name"], "身份证号码": r["household_id"],
                          "人口": r["household_size"], "迁出乡镇": r["township"], "迁出村": r["village"],
                          "安置点": r["township"] + "集中安置点", "补助金额(元)": r["amount"],
                          "发放日期": _date_in(ctx.rng, year, len(r), 4, 10), "账号": r["account_no"],
                          "项目编号": _roster_code(year, projects, r)})
    rel = f"发改局/{year}年易地扶贫搬迁补助花名册.xlsx"
    [numbers] = write_workbook(ctx.out / rel, [Table(
        sheet="搬迁户", title=f"会宁县{year}年易地扶贫搬迁建档立卡户补助资金发放花名册", unit_line="单位:元",
        header=list(frame.columns), rows=frame, sum_columns=["补助金额(元)"], text_columns=["身份证号码", "账号"])])
    ctx.plants.add("REAL-NAME", "relocation", rel, "搬迁户", numbers.iloc[masked])
    ctx.plants.add("TARGETED", "relocation", rel, "搬迁户", numbers.iloc[masked])  # a masked ID is no registered household
    return projects


def policy_subsidies(ctx: SampleContext) -> None:
    """惠农补贴 to every rural household, one file per township and year: the bulk of a county-year's rows."""
    hh = ctx.county.households
    items = pd.DataFrame(POLICY_ITEMS, columns=["item", "month", "rate"])
    for year in ctx.years:
        for township, group in hh.groupby("township", sort=True):
            g = group.loc[group.index.repeat(len(items))].reset_index(drop=True)
            it = items.iloc[np.tile(np.arange(len(items)), len(group))].reset_index(drop=True)
            rate = it["rate"].to_numpy() * (1 + 0.03 * (year - 2015))
            amount = (rate * g["household_size"].to_numpy()).round(2)
            frame = pd.DataFrame({"序号": np.arange(1, len(g) + 1), "户主姓名": g["head_name"], "身份证号": g["household_id"],
                                  "家庭人口": g["household_size"], "村": g["village"], "补贴项目": it["item"],
                                  "补贴期号": str(year) + it["month"].astype(str).str.zfill(2), "补贴金额(元)": amount,
                                  "发放时间": pd.to_datetime(str(year) + "-" + it["month"].astype(str) + "-20"),
                                  "一折统账号": g["account_no"]})
            corrupt = ctx.pick(1, len(frame)) if township in ("会师镇", "大沟镇") else np.array([], dtype=int)
            if len(corrupt):
                last = frame.loc[corrupt, "身份证号"].str.slice(-1)
                frame.loc[corrupt, "身份证号"] = frame.loc[corrupt, "身份证号"].str.slice(0, 17) + np.where(last == "1", "2", "1")
            other_account = ctx.pick(1, len(frame)) if township == "中川镇" else np.array([], dtype=int)
            frame.loc[other_account, "一折统账号"] = "6217" + frame.loc[other_account, "一折统账号"].str.slice(4)
            duplicate = ctx.pick(1, len(frame)) if township == "河畔镇" else np.array([], dtype=int)
            duplicate = duplicate[~np.isin(duplicate, corrupt)]
            if len(duplicate):
                frame = pd.concat([frame, frame.iloc[duplicate]], ignore_index=True)
                frame["序号"] = np.arange(1, len(frame) + 1)
            rel = f"农业农村局/惠农补贴/{year}/{township}.xlsx"
            [numbers] = write_workbook(ctx.out / rel, [Table(
                sheet="发放花名册", title=f"会宁县{township}{year}年惠农补贴资金发放花名册", unit_line="单位:元",
                header=list(frame.columns), rows=frame, sum_columns=["补贴金额(元)"], text_columns=["身份证号", "一折统账号", "补贴期号"])],
                big=len(frame) > 20_000)
            ctx.plants.add("ID-CHECKSUM", "agriculture_policy_subsidies", rel, "发放花名册", numbers.iloc[corrupt])
            ctx.plants.add("ONE-PASSBOOK", "agriculture_policy_subsidies", rel, "发放花名册", numbers.iloc[other_account])
            if len(duplicate):
                ctx.plants.add("DUPLICATE-PAYMENT", "agriculture_policy_subsidies", rel, "发放花名册",
                               numbers.iloc[np.concatenate([duplicate, [len(frame) - 1]])])


# ---------------------------------------------------------------- loans, mutual aid, audits

def _outstanding_wan(made: pd.DataFrame, ids: pd.Series, dates: pd.Series) -> np.ndarray:
    """万元 each household still owes, on each date, from the loans already made (5万元以内 caps the household)."""
    if made.empty:
        return np.zeros(len(ids))
    now = pd.DataFrame({"id": ids.to_numpy(), "date": pd.to_datetime(dates).to_numpy(), "pos": np.arange(len(ids))})
    pairs = now.merge(made, on="id")
    running = pairs[(pairs["start"] <= pairs["date"]) & (pairs["date"] < pairs["end"])]
    return running.groupby("pos")["amount"].sum().reindex(np.arange(len(ids)), fill_value=0.0).to_numpy()


def _within_household_cap(poor: pd.DataFrame, frame: pd.DataFrame, made: pd.DataFrame) -> None:
    """Keep the sample within the household cap: a loan is cut to what the household may still borrow, and a
    household that may borrow less than 1万元 gives its place to a household owing nothing (in register order)."""
    owed = _outstanding_wan(made, frame["身份证号"], frame["放款日期"]).copy()
    full = owed > 4.0
    busy = set(made.loc[made["end"] > pd.Timestamp(frame["放款日期"].min()), "id"]) | set(frame["身份证号"])
    free = poor[~poor["household_id"].isin(busy)].head(int(full.sum()))
    swap = np.flatnonzero(full)[: len(free)]
    frame.loc[swap, ["乡镇", "村", "借款人", "身份证号"]] = free[["township", "village", "head_name", "household_id"]].to_numpy()
    owed[swap] = 0.0
    frame["贷款金额(万元)"] = np.minimum(frame["贷款金额(万元)"].to_numpy(), np.maximum(5.0 - owed, 1.0))


def loans(ctx: SampleContext) -> None:
    from fund_pipeline.rules.derive import loan_end

    rng, poor = ctx.rng, ctx.county.households[ctx.county.households["is_poor"]]
    made = pd.DataFrame(columns=["id", "start", "end", "amount"])
    for year in ctx.years:
        n = min(len(poor), max(int(4000 * ctx.scale), 30))
        b = poor.iloc[rng.choice(len(poor), n, replace=False)].reset_index(drop=True)
        benchmark = 4.75 if year == 2015 else 4.35
        frame = pd.DataFrame({"序号": range(1, n + 1), "乡镇": b["township"], "村": b["village"], "借款人": b["head_name"],
                              "身份证号": b["household_id"], "贷款金额(万元)": rng.choice([1.0, 2.0, 3.0, 5.0], n),
                              "贷款期限(月)": rng.choice([12, 24, 36], n), "年利率(%)": benchmark, "基准利率(%)": benchmark,
                              "担保方式": "免担保", "抵押物": "无", "放款日期": _date_in(rng, year, n, 3, 10),
                              "贷款银行": rng.choice(["会宁县农村信用联社", "中国农业银行会宁县支行"], n)})
        _within_household_cap(poor, frame, made)
        owing = _outstanding_wan(made, frame["身份证号"], frame["放款日期"]) > 0
        big_loan = ctx.pick_where(1, ~owing)  # a household owing nothing else: the big loan is its only finding
        frame.loc[big_loan, ["贷款金额(万元)", "贷款期限(月)"]] = [8.0, 48]
        made = pd.concat([made, pd.DataFrame({
            "id": frame["身份证号"], "start": pd.to_datetime(frame["放款日期"]),
            "end": loan_end(pd.to_datetime(frame["放款日期"]), frame["贷款期限(月)"]), "amount": frame["贷款金额(万元)"]})],
            ignore_index=True)
        rel = f"扶贫办/{year}年精准扶贫专项贷款发放台账.xlsx"
        [numbers] = write_workbook(ctx.out / rel, [Table(
            sheet="贷款台账", title=f"会宁县{year}年精准扶贫专项贷款发放台账", unit_line=None, header=list(frame.columns),
            rows=frame, sum_columns=["贷款金额(万元)"], text_columns=["身份证号"])])
        ctx.plants.add("MICROCREDIT", "poverty_microloans", rel, "贷款台账", numbers.iloc[big_loan])


def mutual_aid(ctx: SampleContext) -> None:
    rng, v = ctx.rng, ctx.county.villages
    for year in ctx.years:
        size = np.where(v["is_poor_village"], rng.uniform(50, 62, len(v)), rng.uniform(10, 30, len(v))).round(2)
        fiscal = (size * 0.7).round(2)
        frame = pd.DataFrame({"序号": range(1, len(v) + 1), "乡镇": v["township"], "村": v["village"], "是否成立协会": "是",
                              "合计": size, "财政扶贫资金": fiscal, "农户入股": (size - fiscal).round(2),
                              "入会农户数": rng.integers(30, 200, len(v))})
        small_fund, no_association = (ctx.pick(1, int(v["is_poor_village"].sum())), ctx.pick(1, len(v))) \
            if year == 2017 else (np.array([], dtype=int), np.array([], dtype=int))
        small_fund = np.flatnonzero(v["is_poor_village"].to_numpy())[small_fund]
        no_association = no_association[~np.isin(no_association, small_fund)]
        frame.loc[small_fund, ["合计", "财政扶贫资金", "农户入股"]] = [45.0, 31.5, 13.5]
        frame.loc[no_association, "是否成立协会"] = "否"
        rel = f"扶贫办/{year}年贫困村互助资金统计表.xlsx"
        [numbers] = write_workbook(ctx.out / rel, [Table(
            sheet="互助资金", title=f"会宁县{year}年村级互助资金统计表", unit_line="单位:万元",
            header=["序号", "乡镇", "村", "是否成立协会", ("互助资金规模", ["合计", "财政扶贫资金", "农户入股"]), "入会农户数"],
            rows=frame, sum_columns=["合计", "财政扶贫资金", "农户入股"])])
        ctx.plants.add("MUTUAL-AID", "poverty_mutual_aid", rel, "互助资金", numbers.iloc[np.concatenate([small_fund, no_association])])


def audits(ctx: SampleContext, projects: pd.DataFrame) -> None:
    rng = ctx.rng
    for year in ctx.years:
        p = projects[(projects["fiscal_year"] == year) & projects["audited"].fillna(True).astype(bool)].reset_index(drop=True)
        frame = pd.DataFrame({"序号": range(1, len(p) + 1), "项目编号": p["project_code"], "项目名称": p["project_name"],
                              "审计单位": "会宁县审计局", "审计日期": _date_in(rng, year, len(p), 11, 12),
                              "审计结论": rng.choice(["资金使用规范", "资金使用基本规范,个别票据不全"], len(p)),
                              "问题金额(万元)": 0.0})
        write_workbook(ctx.out / f"审计局/{year}年扶贫项目审计情况表.xlsx", [Table(
            sheet="审计情况", title=f"会宁县{year}年扶贫项目审计情况表", unit_line="单位:万元", header=list(frame.columns),
            rows=frame, sum_columns=["问题金额(万元)"])])
