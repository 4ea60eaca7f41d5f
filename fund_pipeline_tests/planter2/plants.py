"""Violations an auditor would plant by hand into a clean sample, chosen from the policy (RULES.md), and boundary
controls that must not fire. Each plant edits real cells with openpyxl and says which findings it must cause:
(rule, source, file, sheet, Excel row). Nothing here calls `fund_pipeline.sample`'s planting."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fund_pipeline_tests.planter2.books import Books, Sheet, as_date, like, resident_id

YEARS = (2015, 2016, 2017)
LEDGERS = {  # source: (file, sheet or None, key column, amount column, unit in yuan, date column, channel, purpose)
    "transport_disbursements": ("交通运输局/{y}年交通扶贫资金拨付台账.xlsx", None, "项目编号", "拨付金额(万元)", 10_000, "拨付日期",
                                "资金渠道", "用途"),
    "water_disbursements": ("水务局/水利扶贫项目资金支出明细.xlsx", "{y}年", "编号", "支出金额(元)", 1, "支付日期", "来源渠道", "支出用途"),
    "agriculture_disbursements": ("农业农村局/{y}产业扶贫资金兑付表.xlsx", None, "项目代码", "兑付金额", 1, "兑付时间", "资金来源",
                                  "资金用途"),
}
CHANNELS_FOR = {  # purpose -> integrated channels that allow it and are not special poverty funds (RULES.md CHANNEL)
    "道路": ["农业综合开发补助资金", "农村综合改革转移支付", "车辆购置税收入补助地方用于一般公路建设项目资金"],
    "水利": ["农田水利设施建设和水土保持补助资金", "农业综合开发补助资金", "农村环境连片整治示范资金"],
    "农田": ["农田水利设施建设和水土保持补助资金", "农业综合开发补助资金"],
    "农电": ["农村综合改革转移支付"],
    "生态": ["农田水利设施建设和水土保持补助资金", "林业补助资金", "农村环境连片整治示范资金"],
    "蔬菜": ["现代农业生产发展资金", "农业技术推广与服务补助资金"],
    "林果": ["现代农业生产发展资金", "农业技术推广与服务补助资金", "林业补助资金"],
    "中药材": ["现代农业生产发展资金", "农业技术推广与服务补助资金"],
    "暖棚养殖": ["现代农业生产发展资金", "农业技术推广与服务补助资金"],
}


@dataclass
class Plant:
    kind: str
    expected: list[tuple] = field(default_factory=list)  # (rule_id, source, source_file, sheet, row_number)
    control: bool = False


@dataclass
class Planter:
    inbox: Path
    plants: list[Plant] = field(default_factory=list)
    used: set = field(default_factory=set)  # (file, sheet, row) and project codes already planted on

    def __post_init__(self):
        self.books = Books(self.inbox)

    # ------------------------------------------------------------------ bookkeeping
    def add(self, kind: str, *expected: tuple, control: bool = False) -> None:
        self.plants.append(Plant(kind, list(expected), control))

    def take(self, sheet: Sheet, rows, *extra) -> int:
        """The first row not yet planted on (nor its project, given as extra keys)."""
        for row in rows:
            keys = {(sheet.rel, sheet.name, row), *extra}
            if not keys & self.used:
                self.used |= keys
                return row
        raise LookupError(f"no free row left in {sheet.rel}/{sheet.name}")

    def take_project(self, lib: Sheet, rows) -> int:
        """A project library row whose project nothing else was planted on."""
        r = self.take(lib, [x for x in rows if lib.get(x, "项目编号") not in self.used])
        self.used.add(lib.get(r, "项目编号"))
        return r

    def expected(self) -> pd.DataFrame:
        rows = [e for p in self.plants for e in p.expected]
        return pd.DataFrame(rows, columns=["rule_id", "source", "source_file", "sheet", "row_number"]).drop_duplicates()

    # ------------------------------------------------------------------ the county's facts, read from its sheets
    def library(self, year: int) -> Sheet:
        return self.books.sheet(f"扶贫办/{year}年扶贫项目库.xlsx", "项目编号")

    def ledger(self, source: str, year: int) -> Sheet:
        file, sheet, key, *_ = LEDGERS[source]
        return self.books.sheet(file.format(y=year), key, sheet.format(y=year) if sheet else None)

    def payments(self, year: int) -> pd.DataFrame:
        """Every ledger payment of a year: source, sheet, row, project, amount in yuan, date."""
        rows = []
        for source, (_, _, key, amount, unit, date, channel, purpose) in LEDGERS.items():
            sheet = self.ledger(source, year)
            for r in sheet.rows:
                rows.append({"source": source, "sheet": sheet, "row": r, "project": sheet.get(r, key),
                             "yuan": float(sheet.get(r, amount)) * unit, "date": as_date(sheet.get(r, date)),
                             "channel": sheet.get(r, channel), "purpose": sheet.get(r, purpose)})
        return pd.DataFrame(rows)

    def projects(self, year: int) -> pd.DataFrame:
        lib = self.library(year)
        frame = pd.DataFrame(lib.records("项目编号", "合计", "公示开始", "公示结束", "责任人"))
        return frame.rename(columns={"项目编号": "project", "合计": "budget_wan"})

    def poor_ids(self) -> set[str]:
        register = self.books.sheet("扶贫办/会宁县建档立卡贫困户花名册.xlsx", "身份证号")
        return {str(register.get(r, "身份证号")) for r in register.rows}

    # ------------------------------------------------------------------ plants
    def plant_all(self) -> None:
        self.household_microloans()
        self.student_loans_per_year()
        self.channels_against_allocation()
        self.placeholders()
        self.village_doctor_population()
        self.loan_conditions()
        self.publicity_days()
        self.serious_illness()
        self.budgets()
        self.mutual_aid_per_village()
        self.quarantined_projects_still_checked()
        self.unit_slips()
        self.row_rules()
        self.books.save()

    def _loan_rows(self) -> dict[int, Sheet]:
        return {y: self.books.sheet(f"扶贫办/{y}年精准扶贫专项贷款发放台账.xlsx", "身份证号") for y in YEARS}

    def _single_borrowers(self, loans: dict[int, Sheet]) -> list[tuple[int, int]]:
        """(year, row) of households with one loan in all ledgers: sums over them are ours alone."""
        seen = defaultdict(list)
        for year, sheet in loans.items():
            for r in sheet.rows:
                seen[sheet.get(r, "身份证号")].append((year, r))
        return [places[0] for places in seen.values() if len(places) == 1]

    def household_microloans(self) -> None:
        """5万元以内 caps a household: loans from two years' ledgers still running together are summed."""
        loans = self._loan_rows()
        single = self._single_borrowers(loans)
        first = [(y, r) for y, r in single if y == 2016]
        second = [(y, r) for y, r in single if y == 2017]
        cases = [(3.0, 3.0, 36, True), (3.0, 3.0, 36, True), (2.0, 5.0, 36, True), (4.0, 2.0, 24, True),
                 (2.5, 2.5, 36, False),  # control: exactly 5万 together
                 (5.0, 5.0, 12, False)]  # control: the first is repaid before the second is made
        for amount_1, amount_2, term, fires in cases:
            _, r1 = first.pop(0)
            _, r2 = second.pop(0)
            s1, s2 = loans[2016], loans[2017]
            self.used |= {(s1.rel, s1.name, r1), (s2.rel, s2.name, r2)}
            s1.set_amount(r1, "贷款金额(万元)", amount_1)
            s1.set(r1, "贷款期限(月)", term)
            s1.set(r1, "放款日期", dt.datetime(2016, 4, 10))
            for column in ("乡镇", "村", "借款人", "身份证号"):
                s2.set(r2, column, s1.get(r1, column))
            s2.set_amount(r2, "贷款金额(万元)", amount_2)
            s2.set(r2, "放款日期", dt.datetime(2017, 5, 10))
            if fires:
                self.add("per-household microloans", ("MICROCREDIT", "poverty_microloans", s1.rel, s1.name, r1),
                         ("MICROCREDIT", "poverty_microloans", s2.rel, s2.name, r2))
            else:
                self.add("per-household microloans (boundary)", control=True)

    def student_loans_per_year(self) -> None:
        """每学年8000元以内: one student's loans of one academic year, from two years' lists, are summed."""
        lists = {y: self.books.sheet(f"教育局/{y}年生源地信用助学贷款发放名单.xlsx", "身份证号") for y in YEARS}
        s1, s2 = lists[2016], lists[2017]
        for first, second, fires in [(7000, 2000, True), (7000, 1500, True), (6000, 6000, True), (8000, 100, True),
                                     (6000, 2000, False)]:
            r1, r2 = self.take(s1, s1.rows), self.take(s2, s2.rows)
            s1.set_amount(r1, "贷款金额(元)", first)
            for column in ("乡镇", "村", "学生姓名", "身份证号", "学年"):
                s2.set(r2, column, s1.get(r1, column))
            s2.set_amount(r2, "贷款金额(元)", second)
            if fires:
                self.add("per-student academic year", ("STUDENT-LOAN", "education_student_loans", s1.rel, s1.name, r1),
                         ("STUDENT-LOAN", "education_student_loans", s2.rel, s2.name, r2))
            else:
                self.add("per-student academic year (boundary)", control=True)
        r = self.take(lists[2015], lists[2015].rows)
        lists[2015].set_amount(r, "贷款金额(元)", 8000)
        self.add("a single 8000 loan (boundary)", control=True)

    def channels_against_allocation(self) -> None:
        """渠道不乱: a payment from a channel that allows the purpose but is not the one its project was allocated."""
        for year, source in [(2015, "transport_disbursements"), (2016, "transport_disbursements"),
                             (2016, "water_disbursements"), (2017, "water_disbursements"),
                             (2015, "agriculture_disbursements"), (2017, "agriculture_disbursements")]:
            pays = self.payments(year)
            pays = pays[pays["source"] == source]
            sheet = self.ledger(source, year)
            for p in pays.itertuples():
                others = [c for c in CHANNELS_FOR[p.purpose] if c != p.channel]
                if others and not ({(sheet.rel, sheet.name, p.row), p.project} & self.used):
                    self.used |= {(sheet.rel, sheet.name, p.row), p.project}
                    sheet.set(p.row, LEDGERS[source][6], others[0])
                    self.add("channel other than the project's allocation", ("CHANNEL", source, sheet.rel, sheet.name, p.row))
                    break

    def placeholders(self) -> None:
        """待定, —, 不详 … in required and real-name fields are missing values."""
        lib = self.library(2016)
        for column, value, rules in [("责任人", "待定", ("RESPONSIBILITY", "PLACEHOLDER")),
                                     ("实施单位", "/", ("RESPONSIBILITY", "PLACEHOLDER"))]:
            r = self.take_project(lib, lib.rows)
            lib.set(r, column, value)
            self.add(f"placeholder {value} in {column}", *[(rule, "poverty_projects", lib.rel, lib.name, r) for rule in rules])
        relocation = self.books.sheet("发改局/2017年易地扶贫搬迁补助花名册.xlsx", "身份证号码")
        for value in ("—", "不详"):
            r = self.take(relocation, relocation.rows)
            relocation.set(r, "户主", value)
            self.add(f"placeholder {value} as household head", ("REAL-NAME", "relocation", relocation.rel, relocation.name, r),
                     ("PLACEHOLDER", "relocation", relocation.rel, relocation.name, r))
        yulu = self.books.sheet("扶贫办/2015年雨露计划补助发放花名册.xlsx", "身份证号")
        r = self.take(yulu, yulu.rows)
        yulu.set(r, "户主姓名", "N/A")
        self.add("placeholder N/A as household head", ("PLACEHOLDER", "poverty_yulu", yulu.rel, yulu.name, r))
        r = self.take(yulu, yulu.rows)
        yulu.set(r, "户主姓名", "吴无忌")
        yulu.set(r, "收款人", "吴无忌")
        self.add("a real name containing 无 (control)", control=True)
        loans = self.books.sheet("扶贫办/2015年精准扶贫专项贷款发放台账.xlsx", "身份证号")
        r = self.take(loans, loans.rows)
        loans.set(r, "借款人", "待定")
        self.add("placeholder 待定 as borrower", ("PLACEHOLDER", "poverty_microloans", loans.rel, loans.name, r))
        housing = self.books.sheet("住建局/2016年农村危房改造补助资金发放花名册.xlsx", "身份证号")
        r = self.take(housing, housing.rows)
        housing.set(r, "身份证号", "0")
        self.add("an ID of 0", ("PLACEHOLDER", "housing_renovation", housing.rel, housing.name, r),
                 ("ID-CHECKSUM", "housing_renovation", housing.rel, housing.name, r))
        students = self.books.sheet("教育局/2017年生源地信用助学贷款发放名单.xlsx", "身份证号")
        r = self.take(students, students.rows)
        students.set(r, "学生姓名", "空")
        self.add("placeholder 空 as student", ("PLACEHOLDER", "education_student_loans", students.rel, students.name, r))
        ledger = self.ledger("agriculture_disbursements", 2016)
        pays = self.payments(2016)
        small = pays[pays["source"] == "agriculture_disbursements"].sort_values("yuan")
        r = next(p.row for p in small.itertuples() if p.project not in self.used)
        self.used |= {(ledger.rel, ledger.name, r)}
        ledger.set(r, "村名", "—")
        self.add("placeholder — as village", ("PLACEHOLDER", "agriculture_disbursements", ledger.rel, ledger.name, r))
        transport = self.ledger("transport_disbursements", 2017)
        r = self.take(transport, transport.rows)
        transport.set(r, "凭证号", "无")
        self.add("无 in an optional field (control)", control=True)

    def village_doctor_population(self) -> None:
        """1000人以下 includes 1000: a poor village of exactly 1000 people must pay its doctor 400 a month from 2016."""
        register = self.books.sheet("扶贫办/会宁县行政村名录.xlsx", "村代码")
        doctors = {y: self.books.sheet(f"卫计局/{y}年乡村医生定额补助发放表.xlsx", "补助月份") for y in YEARS}
        poor = [r for r in register.rows if register.get(r, "是否贫困村") == "是" and int(register.get(r, "人口")) > 1000]
        paid_200, paid_400, outside = poor[0], poor[1], poor[2]
        register.set(paid_200, "人口", 1000)  # fires: its doctor still gets 200 in 2016 and 2017
        register.set(paid_400, "人口", 1000)  # control: paid 400 as the policy says
        register.set(outside, "人口", 1001)  # control: over 1000, not in the clause
        expected = []
        for year in (2016, 2017):
            sheet = doctors[year]
            for r in sheet.rows:
                village = (sheet.get(r, "乡镇"), sheet.get(r, "村"))
                if village == (register.get(paid_200, "乡镇"), register.get(paid_200, "村名")):
                    expected.append(("VILLAGE-DOCTOR", "health_village_doctors", sheet.rel, sheet.name, r))
                if village == (register.get(paid_400, "乡镇"), register.get(paid_400, "村名")):
                    sheet.set_amount(r, "补助金额(元)", 400)
        self.add("village of exactly 1000 people paid 200", *expected)
        self.add("village of exactly 1000 people paid 400 (boundary)", control=True)
        self.add("village of 1001 people paid 200 (boundary)", control=True)

    def loan_conditions(self) -> None:
        loans = self._loan_rows()
        single = [(y, r) for y, r in self._single_borrowers(loans) if (loans[y].rel, loans[y].name, r) not in self.used]
        for (year, r), (column, value, fires) in zip(single, [
                ("贷款期限(月)", 37, True), ("贷款期限(月)", 36, False), ("年利率(%)", 6.0, True),
                ("担保方式", "保证人担保", True)], strict=False):
            sheet = loans[year]
            self.used.add((sheet.rel, sheet.name, r))
            sheet.set(r, column, value)
            if fires:
                self.add(f"microloan {column} {value}", ("MICROCREDIT", "poverty_microloans", sheet.rel, sheet.name, r))
            else:
                self.add(f"microloan {column} {value} (boundary)", control=True)

    def publicity_days(self) -> None:
        """公示 of at least 7 days (the start and end days both count)."""
        for days, fires in [(6, True), (7, False)]:
            lib = self.library(2017)
            r = self.take_project(lib, lib.rows)
            start = as_date(lib.get(r, "公示开始"))
            lib.set(r, "公示结束", like(lib.get(r, "公示结束"), start + dt.timedelta(days=days - 1)))
            if fires:
                self.add("publicity of 6 days", ("PUBLICITY", "poverty_projects", lib.rel, lib.name, r))
            else:
                self.add("publicity of exactly 7 days (boundary)", control=True)

    def serious_illness(self) -> None:
        """起付线降至3000元 from 2016 for poor residents."""
        claims = self.books.sheet("人社局/2017年城乡居民大病保险赔付明细.xlsx", "身份证号")
        poor = [r for r in claims.rows if float(claims.get(r, "起付线(元)")) == 3000]
        for value, fires in [(3001, True), (5000, True), (2999, False)]:
            r = self.take(claims, poor)
            claims.set(r, "起付线(元)", value)
            if fires:
                self.add(f"deductible {value}", ("SERIOUS-ILLNESS", "medical_insurance_claims", claims.rel, claims.name, r))
            else:
                self.add(f"deductible {value} (boundary)", control=True)

    def _single_payment_projects(self, year: int, source: str) -> list[tuple]:
        pays = self.payments(year)
        pays = pays[pays["source"] == source]
        counts = pays["project"].value_counts()
        library = self.projects(year).set_index("project")
        return [(p, library.loc[p.project, "budget_wan"]) for p in pays.itertuples()
                if counts[p.project] == 1 and p.project not in self.used and p.project in library.index]

    def budgets(self) -> None:
        """Payments within the budget: up to the budget passes, one yuan over breaks it (and the payment is named)."""
        for over, fires in [(0.0001, True), (0.0, False)]:
            payment, budget = self._single_payment_projects(2016, "transport_disbursements")[0]
            self.used |= {payment.project, (payment.sheet.rel, payment.sheet.name, payment.row)}
            payment.sheet.set_amount(payment.row, "拨付金额(万元)", round(budget + over, 4))
            lib = self.library(2016)
            project_row = next(r for r in lib.rows if lib.get(r, "项目编号") == payment.project)
            if fires:
                self.add("one yuan over budget", ("WITHIN-BUDGET", "poverty_projects", lib.rel, lib.name, project_row),
                         ("WITHIN-BUDGET", "transport_disbursements", payment.sheet.rel, payment.sheet.name, payment.row))
            else:
                self.add("spent exactly the budget (boundary)", control=True)

    def mutual_aid_per_village(self) -> None:
        """50万元 per poor village, whatever number of rows the village is reported in."""
        register = self.books.sheet("扶贫办/会宁县行政村名录.xlsx", "村代码")
        poor = {(register.get(r, "乡镇"), register.get(r, "村名")) for r in register.rows if register.get(r, "是否贫困村") == "是"}
        for year, (first, second), fires in [(2017, (20.0, 25.0), True), (2016, (30.0, 15.0), True), (2017, (25.0, 25.0), False)]:
            sheet = self.books.sheet(f"扶贫办/{year}年贫困村互助资金统计表.xlsx", "村")
            poor_rows = [r for r in sheet.rows if (sheet.get(r, "乡镇"), sheet.get(r, "村")) in poor]
            other_rows = [r for r in sheet.rows if (sheet.get(r, "乡镇"), sheet.get(r, "村")) not in poor]
            p, q = self.take(sheet, poor_rows), self.take(sheet, other_rows)
            sheet.set(q, "乡镇", sheet.get(p, "乡镇"))
            sheet.set(q, "村", sheet.get(p, "村"))
            sheet.set_amount(p, "合计", first)
            sheet.set_amount(q, "合计", second)
            if fires:
                self.add("a poor village's fund in two rows", ("MUTUAL-AID", "poverty_mutual_aid", sheet.rel, sheet.name, p),
                         ("MUTUAL-AID", "poverty_mutual_aid", sheet.rel, sheet.name, q))
            else:
                self.add("a poor village's fund in two rows reaching 50万 (boundary)", control=True)

    def quarantined_projects_still_checked(self) -> None:
        """A project held in quarantine (责任人 待定) is still checked for its other breaches."""
        year = 2017
        lib, audits = self.library(year), self.books.sheet(f"审计局/{year}年扶贫项目审计情况表.xlsx", "项目编号")
        pays = self.payments(year)
        candidates = [r for r in lib.rows if lib.get(r, "项目编号") in set(pays["project"])]
        # unaudited
        r = self.take_project(lib, candidates)
        code = lib.get(r, "项目编号")
        lib.set(r, "责任人", "待定")
        audit_row = next(a for a in audits.rows if audits.get(a, "项目编号") == code)
        other = next(c for c in (lib.get(x, "项目编号") for x in lib.rows) if c != code)
        audits.set(audit_row, "项目编号", other)
        self.add("quarantined project not audited", *[(rule, "poverty_projects", lib.rel, lib.name, r)
                                                      for rule in ("RESPONSIBILITY", "PLACEHOLDER", "AUDIT")])
        # paid before its publicity ended
        r = self.take_project(lib, candidates)
        code = lib.get(r, "项目编号")
        lib.set(r, "责任人", "—")
        first_paid = pays.loc[pays["project"] == code, "date"].min()
        end = first_paid + dt.timedelta(days=3)
        lib.set(r, "公示结束", like(lib.get(r, "公示结束"), end))
        lib.set(r, "公示开始", like(lib.get(r, "公示开始"), end - dt.timedelta(days=20)))
        self.add("quarantined project paid before publicity ended", *[(rule, "poverty_projects", lib.rel, lib.name, r)
                                                                     for rule in ("RESPONSIBILITY", "PLACEHOLDER", "PUBLICITY")])
        # over budget
        payment, budget = self._single_payment_projects(year, "transport_disbursements")[0]
        self.used |= {payment.project, (payment.sheet.rel, payment.sheet.name, payment.row)}
        payment.sheet.set_amount(payment.row, "拨付金额(万元)", round(budget * 1.2, 4))
        r = next(x for x in lib.rows if lib.get(x, "项目编号") == payment.project)
        lib.set(r, "责任人", "暂无")
        self.add("quarantined project over budget",
                 *[(rule, "poverty_projects", lib.rel, lib.name, r) for rule in ("RESPONSIBILITY", "PLACEHOLDER", "WITHIN-BUDGET")],
                 ("WITHIN-BUDGET", "transport_disbursements", payment.sheet.rel, payment.sheet.name, payment.row))

    def unit_slips(self) -> None:
        """元 keyed in a 万元 ledger (×10,000), 万元 in a 元 sheet (×0.0001), a misplaced decimal (×100)."""
        for year, source, factor in [(2015, "transport_disbursements", 10_000), (2017, "transport_disbursements", 10_000),
                                     (2016, "agriculture_disbursements", 0.0001), (2015, "water_disbursements", 100)]:
            pays = self.payments(year)
            pays = pays[(pays["source"] == source) & ~pays["project"].isin({u for u in self.used if isinstance(u, str)})]
            p = next(x for x in pays.itertuples() if (x.sheet.rel, x.sheet.name, x.row) not in self.used)
            self.used |= {p.project, (p.sheet.rel, p.sheet.name, p.row)}
            amount = LEDGERS[source][3]
            p.sheet.set_amount(p.row, amount, round(float(p.sheet.get(p.row, amount)) * factor, 4))
            self.add(f"×{factor} in a ledger", ("AMOUNT-SUSPECT", source, p.sheet.rel, p.sheet.name, p.row))
        yulu = self.books.sheet("扶贫办/2016年雨露计划补助发放花名册.xlsx", "身份证号")
        r = self.take(yulu, yulu.rows)
        yulu.set_amount(r, "补贴金额(元)", float(yulu.get(r, "补贴金额(元)")) * 10_000)
        self.add("×10000 in a roster", ("AMOUNT-SUSPECT", "poverty_yulu", yulu.rel, yulu.name, r))
        students = self.books.sheet("教育局/2015年生源地信用助学贷款发放名单.xlsx", "身份证号")
        r = self.take(students, students.rows)
        students.set_amount(r, "贷款金额(元)", float(students.get(r, "贷款金额(元)")) * 10_000)
        self.add("×10000 student loan", ("AMOUNT-SUSPECT", "education_student_loans", students.rel, students.name, r),
                 ("STUDENT-LOAN", "education_student_loans", students.rel, students.name, r))
        loans = self._loan_rows()
        single = [(y, r) for y, r in self._single_borrowers(loans) if (loans[y].rel, loans[y].name, r) not in self.used]
        year, r = single[0]
        self.used.add((loans[year].rel, loans[year].name, r))
        loans[year].set_amount(r, "贷款金额(万元)", float(loans[year].get(r, "贷款金额(万元)")) * 10_000)
        self.add("×10000 microloan", ("AMOUNT-SUSPECT", "poverty_microloans", loans[year].rel, loans[year].name, r),
                 ("MICROCREDIT", "poverty_microloans", loans[year].rel, loans[year].name, r))

    def row_rules(self) -> None:
        """The other row clauses of RULES.md, planted by hand."""
        yulu = self.books.sheet("扶贫办/2017年雨露计划补助发放花名册.xlsx", "身份证号")
        for _ in range(2):  # 雨露计划直补到户: paid to the school, not the household
            r = self.take(yulu, yulu.rows)
            yulu.set(r, "收款人", yulu.get(r, "就读学校"))
            self.add("Yulu paid to the school", ("DIRECT-PAY", "poverty_yulu", yulu.rel, yulu.name, r))
        poor = self.poor_ids()
        relocation = self.books.sheet("发改局/2016年易地扶贫搬迁补助花名册.xlsx", "身份证号码")
        for seed in range(2):  # 精准到户: special poverty funds to someone outside the register
            r = self.take(relocation, relocation.rows)
            new_id = next(i for i in (resident_id(seed * 10 + k) for k in range(10)) if i not in poor)
            relocation.set(r, "身份证号码", new_id)
            self.add("relocation paid outside the poor register", ("TARGETED", "relocation", relocation.rel, relocation.name, r))
        students = self.books.sheet("教育局/2016年生源地信用助学贷款发放名单.xlsx", "身份证号")
        for _ in range(2):  # a broken check digit
            r = self.take(students, students.rows)
            old = str(students.get(r, "身份证号"))
            students.set(r, "身份证号", old[:17] + ("1" if old[17] != "1" else "2"))
            self.add("ID with a wrong check digit", ("ID-CHECKSUM", "education_student_loans", students.rel, students.name, r))
        for year, source in [(2016, "transport_disbursements"), (2017, "agriculture_disbursements")]:  # paid next year
            sheet = self.ledger(source, year)
            r = self.take(sheet, sheet.rows)
            column = LEDGERS[source][5]
            sheet.set(r, column, like(sheet.get(r, column), dt.date(year + 1, 1, 15)))
            self.add("paid after the fiscal year", ("DATE-IN-YEAR", source, sheet.rel, sheet.name, r))
        sheet = self.ledger("water_disbursements", 2016)
        r = self.take(sheet, sheet.rows)
        sheet.set_amount(r, "支出金额(元)", -float(sheet.get(r, "支出金额(元)")))
        self.add("negative payment", ("AMOUNT-POSITIVE", "water_disbursements", sheet.rel, sheet.name, r))
