"""A corpus of broken and unusual department files, each with what the pipeline must make of it.

The files are written here with openpyxl and zipfile (not by the sample generator) in the transport
department's layout (`交通运输局/<year>年交通扶贫资金拨付台账….xlsx`, sheet 拨付台账, amounts in 万元) and, for
identifiers, the agriculture subsidy roster's. Every case states how many data rows the file holds and
their money in yuan, and the findings (rule, sheet, row, column) it must produce; nothing else is a data row.
"""

from __future__ import annotations

import io
import itertools
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl

HEADER = ["序号", "项目编号", "项目名称", "乡镇", "村", "资金渠道", "用途", "拨付金额(万元)", "拨付日期", "凭证号"]
AMOUNT_COLUMN = "拨付金额(万元)"
CHANNEL = "车辆购置税收入补助地方用于一般公路建设项目资金"
FIRST_DATA_ROW = 4  # title, unit line, header


@dataclass
class Case:
    name: str
    file: str  # path in the inbox
    rows: int  # data rows the file holds (a row with an unreadable cell is one: it lands and is quarantined)
    amount: float  # the money of its readable cells, in yuan
    findings: list[tuple] = field(default_factory=list)  # (rule_id, sheet, row_number, column_name); None = any
    source: str = "transport_disbursements"
    year: int = 2016
    build: Callable[[Path], None] | None = None


_VOUCHERS = itertools.count(1)


def row(n: int, amount=12.5, **changes) -> list:
    """A ledger row; each gets its own voucher number, so rows of different files never repeat by chance."""
    values = {"序号": n, "项目编号": f"HN2016-9{n:02d}", "项目名称": f"南什村道路项目{n}", "乡镇": "会师镇", "村": "南什村",
              "资金渠道": CHANNEL, "用途": "道路", AMOUNT_COLUMN: amount, "拨付日期": "2016年5月3日",
              "凭证号": f"记-{next(_VOUCHERS):05d}"}
    values.update(changes)
    return [values[h] for h in HEADER]


def total_row(label: str, amount, column: int = 0) -> list:
    cells: list = [None] * len(HEADER)
    cells[column] = label
    cells[HEADER.index(AMOUNT_COLUMN)] = amount
    return cells


def amount_only(amount) -> list:
    cells: list = [None] * len(HEADER)
    cells[HEADER.index(AMOUNT_COLUMN)] = amount
    return cells


def note(text: str, column: int = 0) -> list:
    cells: list = [None] * len(HEADER)
    cells[column] = text
    return cells


def write(path: Path, body: list[list], *, sheet: str = "拨付台账", header: list[str] = HEADER,
          merges: tuple[str, ...] = (), hidden: bool = False, extra_sheet: str | None = None,
          title: str = "会宁县交通运输局扶贫项目资金拨付台账") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook()
    ws = workbook.active
    ws.title = sheet
    ws.append([title])
    ws.append(["单位:万元"])
    ws.append(header)
    for cells in body:
        ws.append(cells)
    for merge in merges:
        ws.merge_cells(merge)
    if extra_sheet:
        workbook.create_sheet(extra_sheet).append(["本工作簿的说明"])
    if hidden:
        ws.sheet_state = "hidden"
        workbook.active = 1
    workbook.save(path)


def _ledger(name: str) -> str:
    return f"交通运输局/2016年交通扶贫资金拨付台账({name}).xlsx"


def _wan(*amounts: float) -> float:
    return round(sum(amounts) * 10_000, 2)


def _cases() -> list[Case]:
    cases: list[Case] = []

    def case(name, rows, amount, findings=(), file=None, **kw):
        def decorator(build):
            cases.append(Case(name, file or _ledger(name), rows, amount, list(findings), build=build, **kw))
            return build
        return decorator

    R = FIRST_DATA_ROW

    @case("合計繁体", 3, _wan(12.5, 12.5, 12.5))
    def _(p):
        write(p, [row(1), row(2), row(3), total_row("合計", 37.5)])

    @case("合計繁体不符", 3, _wan(12.5, 12.5, 12.5), [("INGEST-TOTAL", "拨付台账", R + 3, "amount")])
    def _(p):
        write(p, [row(1), row(2), row(3), total_row("合計", 50.0)])

    @case("總計在上", 2, _wan(10, 20))
    def _(p):
        write(p, [total_row("總計", 30.0), row(1, 10), row(2, 20)])

    @case("合计带空格", 2, _wan(10, 20))
    def _(p):
        write(p, [row(1, 10), row(2, 20), total_row("合\u3000\u3000计", 30.0)])

    @case("合计在第二列", 2, _wan(10, 20))
    def _(p):
        write(p, [row(1, 10), row(2, 20), total_row("合 计:", 30.0, column=1)])

    @case("共计", 2, _wan(10, 20))
    def _(p):
        write(p, [row(1, 10), row(2, 20), total_row("共计", 30.0)])

    @case("小計与合计", 4, _wan(10, 20, 5, 5))
    def _(p):
        write(p, [row(1, 10), row(2, 20), total_row("会师镇小計", 30.0), row(3, 5, 乡镇="河畔镇", 村="中滩村"),
                  row(4, 5, 乡镇="河畔镇", 村="中滩村"), total_row("河畔镇小计", 10.0), total_row("合计", 40.0)])

    @case("小计不符", 3, _wan(10, 20, 5), [("INGEST-TOTAL", "拨付台账", R + 2, "amount")])
    def _(p):
        write(p, [row(1, 10), row(2, 20), total_row("会师镇小计", 31.0), row(3, 5), total_row("合计", 35.0)])

    @case("无标签小计", 4, _wan(10, 20, 5, 7))
    def _(p):
        write(p, [row(1, 10), row(2, 20), amount_only(30.0), row(3, 5), row(4, 7), amount_only(12.0), amount_only(42.0)])

    @case("无标签合计在上", 3, _wan(1, 2, 3))
    def _(p):
        write(p, [amount_only(6.0), row(1, 1), row(2, 2), row(3, 3)])

    @case("小计在项目名中", 3, _wan(10, 20, 30))
    def _(p):
        write(p, [row(1, 10, 项目名称="小计村道路硬化工程"), row(2, 20, 项目名称="村级道路小计核算系统建设项目"), row(3, 30)])

    @case("其中行", 2, _wan(10, 20))
    def _(p):
        write(p, [total_row("合计", 30.0), total_row("其中:", None), row(1, 10), row(2, 20)])

    @case("监督电话", 2, _wan(10, 20))
    def _(p):
        write(p, [row(1, 10), row(2, 20), total_row("合计", 30.0), note("监督电话:0943-3221234"),
                  note("举报电话:12317")])

    @case("日期与单位落款", 2, _wan(10, 20))
    def _(p):
        write(p, [row(1, 10), row(2, 20), [], note("会宁县交通运输局", column=6), note("2016年12月31日", column=6)])

    @case("注释行", 2, _wan(10, 20))
    def _(p):
        write(p, [row(1, 10), row(2, 20), note("注:本表金额单位为万元,资金已全部拨付到项目实施单位。")])

    @case("落款两格", 2, _wan(10, 20))
    def _(p):
        cells = note("填报单位:会宁县交通运输局(盖章)")
        cells[6] = "填报日期:2016.12.31"
        write(p, [row(1, 10), row(2, 20), cells])

    @case("纵向合并乡镇", 3, _wan(10, 20, 30))
    def _(p):
        write(p, [row(1, 10), row(2, 20, 乡镇=None), row(3, 30, 乡镇=None)],
              merges=(f"D{R}:D{R + 2}",))

    @case("欧式数字", 3, _wan(10, 20), [("INGEST-VALUE", "拨付台账", R + 2, AMOUNT_COLUMN)])
    def _(p):
        write(p, [row(1, 10), row(2, 20), row(3, "1.234,50")])

    @case("逗号位置不对", 2, _wan(10), [("INGEST-VALUE", "拨付台账", R + 1, AMOUNT_COLUMN)])
    def _(p):
        write(p, [row(1, 10), row(2, "1,2345")])

    @case("千分位文本", 2, 1_234.5 * 10_000 + 100_000)
    def _(p):
        write(p, [row(1, "1,234.50"), row(2, "10")])

    @case("全角数字金额", 2, _wan(12.5, 20))
    def _(p):
        write(p, [row(1, "１２.５"), row(2, "２０")])

    @case("公式无缓存值", 2, _wan(10), [("INGEST-REQUIRED", "拨付台账", R + 1, AMOUNT_COLUMN)])
    def _(p):
        write(p, [row(1, 10), row(2, f"=H{R}*2")])

    @case("控制字符", 2, _wan(10, 20), [("INGEST-CONTROL-CHAR", "拨付台账", R, "项目名称")])
    def _(p):
        # OOXML escapes control characters as _xHHHH_; openpyxl refuses the raw ones, Excel writes these.
        write(p, [row(1, 10, 项目名称="南什村_x0000_道路_x0007_项目"), row(2, 20)])

    @case("日期为待定", 2, _wan(10, 20), [("INGEST-VALUE", "拨付台账", R + 1, "拨付日期")])
    def _(p):
        write(p, [row(1, 10), row(2, 20, 拨付日期="待定")])

    @case("中间空行", 3, _wan(1, 2, 3))
    def _(p):
        write(p, [row(1, 1), [], [None, None, "  "], row(2, 2), [], row(3, 3)])

    @case("不是工作簿", 0, 0.0, [("INGEST-FILE", None, None, None)])
    def _(p):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("项目编号,拨付金额\nHN2016-001,12.5\n", encoding="utf-8")

    @case("零字节", 0, 0.0, [("INGEST-FILE", None, None, None)])
    def _(p):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")

    @case("工作表损坏", 0, 0.0, [("INGEST-FILE", "拨付台账", None, None)])
    def _(p):
        write(p, [row(1, 10)])
        _rewrite_member(p, "xl/worksheets/sheet1.xml", lambda data: data[: len(data) // 2])

    @case("样式表损坏", 0, 0.0, [("INGEST-FILE", None, None, None)])
    def _(p):
        write(p, [row(1, 10)])
        _rewrite_member(p, "xl/styles.xml", lambda data: data[: len(data) // 2])

    @case("缺工作表", 0, 0.0, [("INGEST-SHEET", None, None, None)])
    def _(p):
        write(p, [row(1, 10)], sheet="Sheet1")

    @case("未知表头", 0, 0.0, [("INGEST-HEADER", "拨付台账", 3, "经办人")])
    def _(p):
        write(p, [row(1, 10) + ["张三"]], header=HEADER + ["经办人"])

    @case("只有表头", 0, 0.0, [("INGEST-EMPTY-FILE", None, None, None)])
    def _(p):
        write(p, [])

    @case("隐藏的2018工作表", 2, _wan(10, 20), [("INGEST-HIDDEN-SHEET", "拨付台账", None, None)],
          file="交通运输局/2018年交通扶贫资金拨付台账(隐藏).xlsx", year=2018)
    def _(p):
        write(p, [row(1, 10, 拨付日期="2018年5月3日"), row(2, 20, 拨付日期="2018年6月3日")], hidden=True, extra_sheet="说明")

    @case("2018年台账", 2, _wan(3, 4), file="交通运输局/2018年交通扶贫资金拨付台账.xlsx", year=2018)
    def _(p):
        write(p, [row(51, 3, 拨付日期="2018年5月3日"), row(52, 4, 拨付日期="2018年7月1日")])

    @case("同表另存副本", 3, _wan(10, 20, 30), [("INGEST-DUPLICATE-ROW", "拨付台账", R, None),
                                          ("INGEST-DUPLICATE-ROW", "拨付台账", R + 1, None),
                                          ("INGEST-DUPLICATE-ROW", "拨付台账", R + 2, None)],
          file="交通运输局/2016年交通扶贫资金拨付台账(另存为).xlsx")
    def _(p):
        original = p.with_name("2016年交通扶贫资金拨付台账(原件).xlsx")
        rows = [row(71, 10), row(72, 20), row(73, 30)]
        write(original, rows, title="会宁县交通运输局扶贫项目资金拨付台账(原件)")
        write(p, rows)
        os.utime(original, (original.stat().st_mtime - 3600,) * 2)  # the original arrived an hour earlier

    @case("全角身份证号", 1, 1_500.0, source="agriculture_policy_subsidies",
          file="农业农村局/惠农补贴/2016/会师镇(补报).xlsx")
    def _(p):
        _roster(p, [[1, "张三", "６２０４２２１９８００２１５７０１Ｘ", 4, "南什村", "耕地地力保护补贴", "201605", 1500, "2016-05-20",
                     "6228480000000000001"]])

    @case("身份证号存为数字", 1, 1_500.0, [("INGEST-VALUE", "发放花名册", 4, "身份证号")],
          source="agriculture_policy_subsidies", file="农业农村局/惠农补贴/2016/河畔镇(补报).xlsx")
    def _(p):
        _roster(p, [[1, "李四", 6.204221980021570e17, 4, "中滩村", "耕地地力保护补贴", "201605", 1500, "2016-05-20",
                     "6228480000000000002"]])

    return cases


ROSTER_HEADER = ["序号", "户主姓名", "身份证号", "家庭人口", "村", "补贴项目", "补贴期号", "补贴金额(元)", "发放时间", "一折统账号"]


def _roster(path: Path, rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook()
    ws = workbook.active
    ws.title = "发放花名册"
    ws.append(["惠农补贴发放花名册"])
    ws.append(["单位:元"])
    ws.append(ROSTER_HEADER)
    for cells in rows:
        ws.append(cells)
    workbook.save(path)


def _rewrite_member(path: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """Damage one part of a valid xlsx zip, leaving the zip itself readable."""
    source = zipfile.ZipFile(path)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, change(data) if item.filename == member else data)
    source.close()
    path.write_bytes(out.getvalue())


CASES = _cases()


def matching(findings, case: Case, expected: tuple):
    """The findings of a case's file that match one expected (rule_id, sheet, row_number, column_name)."""
    rule_id, sheet, row_number, column = expected
    hits = findings[(findings["rule_id"] == rule_id) & (findings["source_file"] == case.file)]
    for name, value in (("sheet", sheet), ("row_number", row_number), ("column_name", column)):
        if value is not None:
            hits = hits[hits[name] == value]
    return hits


def build_corpus(inbox: Path, cases: list[Case] = CASES) -> list[Case]:
    for item in cases:
        item.build(inbox / item.file)
    return cases
