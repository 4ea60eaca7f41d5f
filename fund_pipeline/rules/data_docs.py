"""Great Expectations Data Docs that are safe to open and work offline.

GX renders the failing values it saw into the pages (partial unexpected lists): values from the
departments' sheets, which may hold HTML or resident IDs.  Before the pages are built, those values
are masked and escaped in the stored validation result; after, the CDN styles and scripts GX links
are replaced by a small inline stylesheet, so the pages need no network.
"""

from __future__ import annotations

import copy
import html
import re
from collections import OrderedDict
from pathlib import Path

from fund_pipeline.report.masking import mask_string

_REMOTE_TAG = re.compile(r"<link[^>]+href=\"https?://[^\"]*\"[^>]*>|<script[^>]+src=\"https?://[^\"]*\"[^>]*>\s*</script>",
                         re.IGNORECASE)
OFFLINE_STYLE = """<style id="fund-pipeline-offline">
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1em 2em; color: #222; }
table { border-collapse: collapse; margin: .5em 0; } th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; }
.container-fluid, .row, .col-12, .col-md-10, .col-md-2 { display: block; width: auto; }
.collapse:not(.show) { display: block; } .d-none { display: none; } .badge { padding: 0 .4em; border-radius: 3px; background: #eee; }
.alert { padding: .5em; border: 1px solid #ddd; } .text-danger { color: #c00000; } .text-success { color: #2e7d32; }
nav, .sticky { position: static; } img { max-width: 100%; }
.fas, .fa { display: none; }
</style>"""


def _clean(value):
    """Mask identifiers and escape HTML in every string a validation result carries."""
    if isinstance(value, str):
        return html.escape(mask_string(value), quote=False)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clean(v) for v in value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 1e14:
        return mask_string(str(value))  # an ID typed as a number
    return value


def sanitized(result):
    """A copy of a suite validation result whose observed values are masked and escaped."""
    safe = copy.deepcopy(result)
    for outcome in safe.results:
        outcome.result = _clean(outcome.result or {})
    return safe


INDEX_PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Great Expectations 数据文档</title>{style}</head>
<body><h1>Great Expectations 数据文档(校验明细)</h1>
<p>每次运行中每个数据类别的校验结果,最新的在前。页面中的身份证号、账号已脱敏。</p>
<table><tr><th>数据类别(校验套件)</th><th>运行</th><th>校验时间</th><th>结果</th></tr>
{rows}</table></body></html>
"""


def write_index(docs_dir: Path) -> None:
    """A static index of the validation pages (GX's own index is filled by scripts from a CDN)."""
    docs_dir = Path(docs_dir)
    rows = []
    for page in docs_dir.glob("validations/*/*/*/*.html"):
        suite, run_name, run_time = page.relative_to(docs_dir).parts[1:4]
        text = page.read_text(encoding="utf-8", errors="ignore")
        plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))
        failed = re.search(r"Status: \W*Failed", plain) is not None
        rows.append((run_time, suite, run_name, page.relative_to(docs_dir).as_posix(), failed))
    rows.sort(reverse=True)
    cells = "\n".join(
        f'<tr><td><a href="{html.escape(href)}">{html.escape(suite.removeprefix("fund_pipeline_"))}</a></td>'
        f"<td>{html.escape(run_name)}</td><td>{html.escape(run_time)}</td>"
        f'<td class="{"text-danger" if failed else "text-success"}">{"未通过" if failed else "通过"}</td></tr>'
        for run_time, suite, run_name, href, failed in rows)
    (docs_dir / "index.html").write_text(INDEX_PAGE.format(style=OFFLINE_STYLE, rows=cells), encoding="utf-8")


def make_offline(docs_dir: Path) -> None:
    """Drop the pages' remote styles and scripts, add an inline stylesheet, and mask whatever remains."""
    write_index(docs_dir)
    for page in Path(docs_dir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "fund-pipeline-offline" in text and not _REMOTE_TAG.search(text):
            continue
        text = _REMOTE_TAG.sub("", text)
        if "fund-pipeline-offline" not in text:
            text = text.replace("</head>", OFFLINE_STYLE + "\n</head>", 1)
        page.write_text(mask_string(text), encoding="utf-8")


def render(context, site_name: str, docs_dir: Path, checkpoint_result) -> None:
    """Store a masked, escaped copy of each validation result and build its Data Docs pages from it.

    GX's own index page is not rendered (it costs more than the validation itself, and `write_index`
    replaces it); only the pages of these results are, and pages whose results this process does not
    hold are dropped, as GX's index builder would."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    _reuse_compiled_templates()
    store = context.validation_results_store
    identifiers = []
    for identifier, result in checkpoint_result.run_results.items():
        store.set(identifier, sanitized(result))
        identifiers += [identifier, ExpectationSuiteIdentifier(name=result.suite_name)]
    builder = context._init_site_builder_for_data_docs_site_creation(
        site_name=site_name, site_config=context.variables.data_docs_sites[site_name])
    _skip_static_assets_if_copied(builder, Path(docs_dir))
    builder.build(identifiers, build_index=False)
    _STATIC_ASSETS_COPIED.add(Path(docs_dir).resolve())
    _drop_pages_without_results(builder)
    make_offline(docs_dir)


_STATIC_ASSETS_COPIED: set[Path] = set()


def _skip_static_assets_if_copied(builder, docs_dir: Path) -> None:
    """GX copies its stylesheets, scripts and images into the site on every build (a third of a build's cost);
    they never change, so a site this process has already built (and that still has them) is not given them again."""
    folder = docs_dir.resolve()
    if folder in _STATIC_ASSETS_COPIED and (folder / "static").is_dir():
        builder.target_store.copy_static_assets = lambda *args, **kwargs: None


def _drop_pages_without_results(builder) -> None:
    """The cleaning GX's index builder does before it renders (skip_and_clean_missing), without the rendering."""
    index = builder.site_index_builder
    index._add_expectations_to_index_links(OrderedDict(), skip_and_clean_missing=True)
    index._build_validation_and_profiling_result_site_keys(skip_and_clean_missing=True)


class _TemplateCache:
    """Jinja's compiled templates kept in memory for the process (jinja2.BytecodeCache's interface).

    GX makes a new Jinja environment for every view it renders, so each page recompiled the same templates:
    that compiling was most of the Data Docs' cost. The compiled code is keyed by template and source."""

    def __init__(self):
        from jinja2 import BytecodeCache

        class InMemory(BytecodeCache):
            def __init__(self):
                self.compiled: dict[str, bytes] = {}

            def load_bytecode(self, bucket):
                if bucket.key in self.compiled:
                    bucket.bytecode_from_string(self.compiled[bucket.key])

            def dump_bytecode(self, bucket):
                self.compiled[bucket.key] = bucket.bytecode_to_string()

        self.cache = InMemory()


_TEMPLATES: _TemplateCache | None = None


def _reuse_compiled_templates() -> None:
    """Give every GX view's Jinja environment the process's template cache (once per process)."""
    global _TEMPLATES
    if _TEMPLATES is not None:
        return
    from great_expectations.render.view.view import DefaultJinjaView

    _TEMPLATES = _TemplateCache()
    built = DefaultJinjaView.__init__

    def with_cache(self, *args, **kwargs):
        built(self, *args, **kwargs)
        self.env.bytecode_cache = _TEMPLATES.cache

    DefaultJinjaView.__init__ = with_cache
