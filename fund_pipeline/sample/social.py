"""Education, health and medical-insurance lists: student loans, village doctors' subsidies, serious-illness claims."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fund_pipeline.sample.county import person_names, resident_ids
from fund_pipeline.sample.departments import SampleContext, _date_in
from fund_pipeline.sample.workbook import Table, write_workbook


def student_loans(ctx: SampleContext) -> None:
    rng, hh = ctx.rng, ctx.county.households
    for year in ctx.years:
        n = max(int(2500 * ctx.scale), 20)
        family = hh.iloc[rng.choice(len(hh), n, replace=False)].reset_index(drop=True)
        frame = pd.DataFrame({
            "序号": range(1, n + 1), "乡镇": family["township"], "村": family["village"],
            "学生姓名": person_names(rng, n), "身份证号": resident_ids(rng, n),
            "就读学校": rng.choice(["兰州大学", "西北师范大学", "甘肃农业大学", "兰州交通大学"], n),
            "学年": f"{year}-{year + 1}", "贷款金额(元)": rng.choice([6000.0, 7000.0, 8000.0], n),
            "放款日期": _date_in(rng, year, n, 9, 11),
        })
        chosen = ctx.pick(2, n)
        too_much, legacy = chosen[:1], chosen[1:]
        frame.loc[too_much, "贷款金额(元)"] = 10_000.0
        frame["身份证号"] = frame["身份证号"].astype(object)
        frame.loc[legacy, "身份证号"] = frame.loc[legacy, "身份证号"].str.slice(0, 6) + \
            frame.loc[legacy, "身份证号"].str.slice(8, 17)  # the old 15-digit form
        rel = f"教育局/{year}年生源地信用助学贷款发放名单.xlsx"
        [numbers] = write_workbook(ctx.out / rel, [Table(
            sheet="贷款名单", title=f"会宁县{year}年生源地信用助学贷款发放名单", unit_line="单位:元",
            header=list(frame.columns), rows=frame, sum_columns=["贷款金额(元)"], text_columns=["身份证号"])])
        ctx.plants.add("STUDENT-LOAN", "education_student_loans", rel, "贷款名单", numbers.iloc[too_much])
        ctx.plants.add("ID-LEGACY15", "education_student_loans", rel, "贷款名单", numbers.iloc[legacy])


def village_doctors(ctx: SampleContext) -> None:
    """One doctor per village, paid monthly: 400 yuan from 2016 in poor villages under 1,000 people."""
    rng, v = ctx.rng, ctx.county.villages.reset_index(drop=True)
    doctors = pd.DataFrame({"name": person_names(rng, len(v)), "id": resident_ids(rng, len(v))})
    small_poor = (v["is_poor_village"] & (v["population"] < 1000)).to_numpy()
    for year in ctx.years:
        months = np.arange(1, 13)
        rows = v.loc[v.index.repeat(12)].reset_index(drop=True)
        rate = 400.0 if year >= 2016 else 200.0
        amount = np.where(np.repeat(small_poor, 12), rate, 200.0)
        frame = pd.DataFrame({
            "序号": range(1, len(rows) + 1), "乡镇": rows["township"], "村": rows["village"],
            "乡村医生": np.repeat(doctors["name"].to_numpy(), 12), "身份证号": np.repeat(doctors["id"].to_numpy(), 12),
            "补助月份": [f"{year}{m:02d}" for m in np.tile(months, len(v))], "补助金额(元)": amount,
        })
        underpaid = ctx.pick_where(1, np.repeat(small_poor, 12)) if year >= 2016 else np.array([], dtype=int)
        frame.loc[underpaid, "补助金额(元)"] = 200.0
        rel = f"卫计局/{year}年乡村医生定额补助发放表.xlsx"
        [numbers] = write_workbook(ctx.out / rel, [Table(
            sheet="定额补助", title=f"会宁县{year}年乡村医生定额补助发放表", unit_line="单位:元",
            header=list(frame.columns), rows=frame, sum_columns=["补助金额(元)"], text_columns=["身份证号", "补助月份"])],
            big=len(frame) > 20_000)
        ctx.plants.add("VILLAGE-DOCTOR", "health_village_doctors", rel, "定额补助", numbers.iloc[underpaid])


def illness_claims(ctx: SampleContext) -> None:
    """Serious-illness insurance claims; poor patients' deductible is 3,000 yuan from 2016 (5,000 before)."""
    rng, hh = ctx.rng, ctx.county.households
    for year in ctx.years:
        n = max(int(3000 * ctx.scale), 30)
        family = hh.iloc[rng.choice(len(hh), n, replace=False)].reset_index(drop=True)
        deductible = np.where(family["is_poor"] & (year >= 2016), 3000.0, 5000.0)
        total = rng.uniform(20_000, 200_000, n).round(2)
        frame = pd.DataFrame({
            "序号": range(1, n + 1), "乡镇": family["township"], "村": family["village"],
            "患者姓名": person_names(rng, n), "身份证号": resident_ids(rng, n), "户主身份证号": family["household_id"],
            "结算日期": _date_in(rng, year, n, 1, 12), "医疗总费用(元)": total, "起付线(元)": deductible,
            "大病保险赔付(元)": ((total - deductible) * 0.5).round(2),
        })
        too_high = ctx.pick_where(1, family["is_poor"].to_numpy()) if year >= 2016 else np.array([], dtype=int)
        frame.loc[too_high, "起付线(元)"] = 5000.0
        rel = f"人社局/{year}年城乡居民大病保险赔付明细.xlsx"
        [numbers] = write_workbook(ctx.out / rel, [Table(
            sheet="赔付明细", title=f"会宁县{year}年城乡居民大病保险赔付明细", unit_line="单位:元",
            header=list(frame.columns), rows=frame, sum_columns=["医疗总费用(元)", "大病保险赔付(元)"],
            text_columns=["身份证号", "户主身份证号"], date_style="chinese")])
        ctx.plants.add("SERIOUS-ILLNESS", "medical_insurance_claims", rel, "赔付明细", numbers.iloc[too_high])



