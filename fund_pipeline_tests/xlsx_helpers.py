"""Real .xlsx files for tests, in the transport department's layout unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

TRANSPORT_HEADER = ["序号", "项目编号", "项目名称", "乡镇", "村", "资金渠道", "用途", "拨付金额(万元)", "拨付日期", "凭证号"]


def transport_row(n: int, **changes) -> list:
    row = {"序号": n, "项目编号": f"HN2016-{n:03d}", "项目名称": "南什村道路项目", "乡镇": "会师镇", "村": "南什村",
           "资金渠道": "车辆购置税收入补助地方用于一般公路建设项目资金", "用途": "道路", "拨付金额(万元)": 12.5,
           "拨付日期": "2016年5月3日", "凭证号": f"记-{n:03d}"}
    row.update(changes)
    return [row[h] for h in TRANSPORT_HEADER]


def write_sheet(path: Path, rows: list[list], header: list[str] = TRANSPORT_HEADER, sheet: str = "拨付台账",
                title: str = "会宁县交通运输局2016年扶贫项目资金拨付台账", total: list | None = None) -> Path:
    """Title in row 1, header in row 2, data from row 3, then an optional total row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path))
    ws = workbook.add_worksheet(sheet)
    ws.write(0, 0, title)
    ws.write_row(1, 0, header)
    for i, row in enumerate(rows):
        ws.write_row(2 + i, 0, row)
    if total is not None:
        ws.write_row(2 + len(rows), 0, total)
    workbook.close()
    return path
