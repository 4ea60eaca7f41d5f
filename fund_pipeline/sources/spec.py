"""A department's spreadsheet layout, declared as data (one YAML file per source in `layouts/`).

See docs/adding-a-source.md for the format.  Loading validates the file so that a typo in a
layout fails at start-up with the layout's name, not halfway through a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fund_pipeline.configuration import cached, layout_dirs
from fund_pipeline.sources.schemas import ENTITIES

LAYOUT_DIR = Path(__file__).parent / "layouts"
UNIT_FACTORS = {"元": 1.0, "万元": 10_000.0, "亿元": 100_000_000.0}
DEFAULT_DROP_PATTERN = r"(合\s*计|总\s*计|小\s*计)[::]?$|^其中[::]?$"
DEFAULT_FOOTER_PATTERN = r"^(单位负责人|填表人|填表时间|填表日期|填表单位|制表|审核人|审核|分管领导|备注[::])"


class LayoutError(ValueError):
    """A layout file that cannot be used as written."""


@dataclass(frozen=True)
class ColumnSpec:
    field: str
    aliases: tuple[str, ...]
    unit: str | None = None  # overrides the sheet's unit for a money column


@dataclass(frozen=True)
class SourceSpec:
    name: str
    department: str
    entity: str
    description: str
    files: tuple[str, ...]  # glob patterns relative to the inbox
    sheets: tuple[str, ...]  # exact names or regular expressions (fullmatch)
    header_find: tuple[str, ...]  # texts, one of which appears in the header's first row
    header_rows: int = 1
    skip_after_header: int = 0  # e.g. a (甲)(1)(2)... column-index row
    unit: str = "元"
    columns: tuple[ColumnSpec, ...] = ()
    ignore_columns: tuple[str, ...] = ()
    constants: dict = field(default_factory=dict)  # field -> value for every row
    filename_fields: tuple[str, ...] = ()  # regexes with named groups applied to the relative path
    sheet_fields: tuple[str, ...] = ()  # regexes with named groups applied to the sheet name
    total_labels: tuple[str, ...] = ()  # extra labels (regexes) of total rows, beside 合计/总计/小计/共计
    drop_pattern: str = DEFAULT_DROP_PATTERN
    footer_pattern: str = DEFAULT_FOOTER_PATTERN
    label_columns: int = 3  # how many leading columns are searched for 合计/小计/footer labels
    expected_every_year: bool = True  # a year with no file from this source is a finding
    layout_file: str = ""

    @property
    def unit_factor(self) -> float:
        return UNIT_FACTORS[self.unit]

    def alias_map(self) -> dict[str, str]:
        """Normalised header text -> canonical field."""
        mapping: dict[str, str] = {}
        for column in self.columns:
            for alias in column.aliases:
                mapping[normalise_header(alias)] = column.field
        return mapping

    @property
    def pattern_fields(self) -> set[str]:
        """Fields filled from the file path or sheet name by the named groups of filename/sheet_fields."""
        return {name for pattern in self.filename_fields + self.sheet_fields for name in re.compile(pattern).groupindex}

    def column(self, field_name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.field == field_name), None)


def normalise_header(text: object) -> str:
    """Header text without white space (including full-width) and line breaks, full-width brackets folded."""
    s = re.sub(r"\s+", "", str(text or "")).replace("\u3000", "")
    return s.replace("(", "(").replace(")", ")").replace(":", ":")


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)


Texts = str | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class _HeaderModel(_Strict):
    find: Texts
    rows: int = Field(1, ge=1, le=5)
    skip_after: int = Field(0, ge=0, le=10)


class _ColumnModel(_Strict):
    aliases: Texts
    unit: Literal["元", "万元", "亿元"] | None = None


_GLOB_LOOKS_LIKE_REGEX = re.compile(r"\\[dws.]|\.\*|\(\?P?<|^\^|\$$|\.\+")


class _LayoutModel(_Strict):
    source: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    department: str = Field(min_length=1)
    entity: str
    description: str = ""
    files: Texts
    filename_fields: list[str] = []
    sheets: Texts = ".*"
    sheet_fields: list[str] = []
    header: _HeaderModel
    unit: Literal["元", "万元", "亿元"] = "元"
    columns: dict[str, Texts | _ColumnModel]
    ignore_columns: Texts = []
    constants: dict[str, str | int | float | bool] = {}
    total_labels: list[str] = []
    drop_pattern: str = DEFAULT_DROP_PATTERN
    footer_pattern: str = DEFAULT_FOOTER_PATTERN
    label_columns: int = Field(3, ge=1, le=20)
    expected_every_year: bool = True

    @field_validator("files")
    @classmethod
    def _globs(cls, value):
        for pattern in _as_tuple(value):
            if _GLOB_LOOKS_LIKE_REGEX.search(pattern):
                raise ValueError(f"「{pattern}」像正则表达式;files 应为通配符(glob),如 交通运输局/*拨付台账*.xlsx")
        return value

    @field_validator("filename_fields", "sheet_fields", "drop_pattern", "footer_pattern", "sheets", "total_labels")
    @classmethod
    def _regexes(cls, value):
        for pattern in _as_tuple(value):
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"「{pattern}」不是有效的正则表达式:{error}") from None
        return value


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"] if not str(p).startswith(("str", "list", "function", "_")))
        text = {"extra_forbidden": "未知的键(拼写错误?)", "missing": "缺少必需的键"}.get(item["type"], item["msg"])
        parts.append(f"键「{key}」:{text.removeprefix('Value error, ')}")
    return ";".join(dict.fromkeys(parts))


def parse_layout(raw: dict, layout_file: str = "") -> SourceSpec:
    where = layout_file or (raw.get("source") if isinstance(raw, dict) else None) or "<layout>"
    if not isinstance(raw, dict):
        raise LayoutError(f"来源布局「{where}」不是键值映射(YAML 顶层应为 source: … 等键)")
    try:
        model = _LayoutModel.model_validate(raw)
    except ValidationError as error:
        raise LayoutError(f"来源布局「{where}」有误:{_describe(error)}") from None
    entity = model.entity
    if entity not in ENTITIES:
        raise LayoutError(f"来源布局「{where}」有误:键「entity」:未知的实体 {entity!r}(unknown entity);可用:{sorted(ENTITIES)}")
    known_fields = {f.name for f in ENTITIES[entity]}
    columns = []
    for field_name, column in model.columns.items():
        if field_name not in known_fields:
            raise LayoutError(f"来源布局「{where}」有误:键「columns.{field_name}」:{field_name!r} is not a field of {entity}")
        if isinstance(column, _ColumnModel):
            columns.append(ColumnSpec(field_name, _as_tuple(column.aliases), column.unit))
        else:
            columns.append(ColumnSpec(field_name, _as_tuple(column)))
    unknown_constants = set(model.constants) - known_fields
    if unknown_constants:
        raise LayoutError(f"来源布局「{where}」有误:键「constants」:{sorted(unknown_constants)} 不是 {entity} 的字段")
    spec = SourceSpec(
        name=model.source, department=model.department, entity=entity, description=model.description.strip(),
        files=_as_tuple(model.files), sheets=_as_tuple(model.sheets), header_find=_as_tuple(model.header.find),
        header_rows=model.header.rows, skip_after_header=model.header.skip_after, unit=model.unit,
        columns=tuple(columns), ignore_columns=_as_tuple(model.ignore_columns), constants=dict(model.constants),
        filename_fields=tuple(model.filename_fields), sheet_fields=tuple(model.sheet_fields),
        total_labels=tuple(model.total_labels), drop_pattern=model.drop_pattern, footer_pattern=model.footer_pattern,
        label_columns=model.label_columns, expected_every_year=model.expected_every_year, layout_file=layout_file,
    )
    provided = {c.field for c in spec.columns} | set(spec.constants) | spec.pattern_fields
    missing = [f.name for f in ENTITIES[entity] if f.required and f.name not in provided]
    if missing:
        raise LayoutError(f"来源布局「{where}」有误:实体 {entity} 的必需字段没有列、常量或文件名规则 (required fields "
                          f"have no column, constant or name pattern): {missing}")
    return spec


@dataclass(frozen=True)
class InvalidLayout:
    """A layout file that could not be used: its source is disabled and the problem is a LAYOUT-INVALID finding."""

    layout_file: str
    source: str
    message: str


@dataclass(frozen=True)
class LayoutSet:
    specs: tuple[SourceSpec, ...]
    invalid: tuple[InvalidLayout, ...]


def load_layout(path: Path) -> SourceSpec:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise LayoutError(f"来源布局「{Path(path).name}」无法读取:{error}") from None
    return parse_layout(raw, layout_file=Path(path).name)


def _source_name_of(path: Path) -> str:
    """The source a broken layout meant to define: its `source:` line if readable, else the file's stem."""
    match = re.search(r"^source:\s*([A-Za-z0-9_]+)", path.read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
    return match.group(1) if match else path.stem


@cached
def _load_from(directories: tuple[Path, ...]) -> LayoutSet:
    """Layouts of every folder in order; a later folder's layout replaces an earlier one of the same source.
    A broken layout disables its own source only; the others load."""
    by_name: dict[str, SourceSpec | InvalidLayout] = {}
    for directory in directories:
        seen_here: dict[str, str] = {}
        for path in sorted(Path(directory).glob("*.yaml")):
            try:
                spec = load_layout(path)
            except LayoutError as error:
                by_name[_source_name_of(path)] = InvalidLayout(path.name, _source_name_of(path), str(error))
                continue
            if spec.name in seen_here:
                by_name[spec.name] = InvalidLayout(path.name, spec.name, f"来源名「{spec.name}」已由同一文件夹中的布局"
                                                   f"「{seen_here[spec.name]}」使用")
                continue
            seen_here[spec.name] = path.name
            by_name[spec.name] = spec
    specs = tuple(v for v in by_name.values() if isinstance(v, SourceSpec))
    invalid = tuple(v for v in by_name.values() if isinstance(v, InvalidLayout))
    return LayoutSet(specs, invalid)


def layout_set() -> LayoutSet:
    return _load_from(layout_dirs(LAYOUT_DIR))


def load_layouts() -> tuple[SourceSpec, ...]:
    """The usable layouts of the configuration in force (built-in plus the county's own)."""
    return layout_set().specs


def invalid_layouts() -> tuple[InvalidLayout, ...]:
    return layout_set().invalid


def layout_by_name(name: str) -> SourceSpec:
    for spec in load_layouts():
        if spec.name == name:
            return spec
    raise LayoutError(f"no layout named {name!r}; known: {[s.name for s in load_layouts()]}")
