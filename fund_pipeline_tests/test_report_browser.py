"""The HTML report of a planted run in a real headless Chromium (Debian's chromium + chromedriver):
filters, drill-downs, layout at 1400 px and in print, and the linked Data Docs offline."""

from __future__ import annotations

import pytest

from fund_pipeline_tests.browser import chromium, require_browser

OPEN_ALL = "document.querySelectorAll('details').forEach(d => { d.open = true; });"
VISIBLE_ROWS = """return Array.from(document.querySelectorAll('tr.finding'))
    .filter(tr => tr.offsetParent !== null).map(tr => Object.assign({}, tr.dataset));"""
# Every visible header cell at least as wide as its text; the page no wider than the window.
NARROW_HEADERS = """
const narrow = [];
for (const th of document.querySelectorAll('th')) {
  if (th.offsetParent === null) continue;
  const range = document.createRange(); range.selectNodeContents(th);
  const text = range.getBoundingClientRect().width;
  const style = getComputedStyle(th);
  const inner = th.getBoundingClientRect().width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  if (text > inner + 1) narrow.push(th.textContent + ': ' + text.toFixed(0) + ' > ' + inner.toFixed(0));
}
return narrow;"""


@pytest.fixture(scope="module")
def report_page(duckdb_run):
    require_browser()
    _, _, reports = duckdb_run
    page = reports / "latest" / "审计报告.html"
    assert page.exists()
    return page


def _select(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_visible_text(value)


def _options(driver, element_id: str) -> list[str]:
    return driver.execute_script(f"return Array.from(document.getElementById('{element_id}').options)"
                                 ".map(o => o.value).filter(v => v);")


def test_filters_narrow_the_findings(report_page):
    with chromium() as driver:
        driver.get(report_page.as_uri())
        driver.execute_script(OPEN_ALL)
        everything = driver.execute_script(VISIBLE_ROWS)
        assert len(everything) > 20
        for element_id, key in (("f-department", "department"), ("f-rule", "rule"), ("f-year", "year"),
                                ("f-severity", "severity"), ("f-status", "status")):
            options = _options(driver, element_id)
            assert options, element_id
            chosen = options[0] if element_id != "f-severity" else "警告"
            _select(driver, element_id, chosen)
            shown = driver.execute_script(VISIBLE_ROWS)
            assert shown and all(row[key] == chosen for row in shown), (element_id, chosen)
            assert len(shown) == sum(1 for row in everything if row[key] == chosen)
            assert driver.find_element("id", "f-count").text == f"显示 {len(shown)} 条"
            _select(driver, element_id, "全部")
        # Filters combine: a department and a severity together.
        _select(driver, "f-department", "会宁县扶贫开发办公室")
        _select(driver, "f-severity", "错误")
        shown = driver.execute_script(VISIBLE_ROWS)
        assert shown and all(r["department"] == "会宁县扶贫开发办公室" and r["severity"] == "错误" for r in shown)
        # The summary's department link picks that department.
        driver.execute_script("document.querySelector('a.pick[data-department=\"会宁县交通运输局\"]').click();")
        shown = driver.execute_script(VISIBLE_ROWS)
        assert shown and {r["department"] for r in shown} == {"会宁县交通运输局"}
        assert driver.find_element("id", "f-severity").get_attribute("value") == ""


def test_shares_drill_down_to_departments_and_rows(report_page):
    with chromium() as driver:
        driver.get(report_page.as_uri())
        measure = driver.find_element("css selector", "details.measure[data-rule='VILLAGE-54']")
        breakdown = measure.find_element("css selector", "table.breakdown")
        assert not breakdown.is_displayed()
        measure.find_element("tag name", "summary").click()
        assert breakdown.is_displayed()
        departments = breakdown.find_elements("css selector", "details.rows")
        assert len(departments) >= 2
        first = departments[0]
        first.find_element("tag name", "summary").click()
        rows = first.find_elements("css selector", "table tr")
        assert len(rows) >= 2 and rows[1].is_displayed()
        cells = [c.text for c in rows[1].find_elements("tag name", "td")]
        assert cells[0].endswith(".xlsx") and cells[2].isdigit()  # file and Excel row behind the share


def test_layout_at_1400_px_and_in_print(report_page):
    with chromium(width=1400) as driver:
        driver.get(report_page.as_uri())
        driver.execute_script(OPEN_ALL)
        assert driver.execute_script("return window.innerWidth") <= 1400
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        assert driver.execute_script(NARROW_HEADERS) == []
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        driver.set_window_size(1123, 900)  # A4 landscape at 96 dpi
        driver.execute_script(OPEN_ALL)
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        assert driver.execute_script(NARROW_HEADERS) == []
        assert not driver.find_element("id", "filters").is_displayed()


def test_linked_data_docs_open_offline(report_page):
    with chromium() as driver:
        driver.get(report_page.as_uri())
        link = driver.find_element("partial link text", "数据文档")
        driver.get(link.get_attribute("href"))
        assert "Run Name" not in driver.page_source or "__none__" not in driver.page_source
        remote = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                                       ".filter(n => !n.startsWith('file:'));")
        assert remote == []
        assert driver.find_elements("tag name", "table")


def test_every_measure_is_named_in_chinese(report_page):
    """Each share is charted twice (published rows; with quarantined money): both titles read in Chinese."""
    with chromium() as driver:
        driver.get(report_page.as_uri())
        text = driver.find_element("tag name", "body").text
    assert "_with_quarantined" not in text and "_share" not in text
    assert "整合资金到贫困村比例(含被隔离行)" in text
