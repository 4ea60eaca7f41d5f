"""A department's spreadsheet layout, declared as data (one YAML file per source in `layouts/`).

See docs/adding-a-source.md for the format.  Loading validates the file so that a typo in a
layout fails at start-up with the layout's name, not halfway through a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

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
    drop_pattern: str = DEFAULT_DROP_PATTERN
    footer_pattern: str = DEFAULT_FOOTER_PATTERN
    label_columns: int = 3  # how many leading columns are searched for 合计/小计/footer labels
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


def parse_layout(raw: dict, layout_file: str = "") -> SourceSpec:
    where = layout_file or raw.get("source", "<layout>")
    try:
        entity = raw["entity"]
        if entity not in ENTITIES:
            raise LayoutError(f"{where}: unknown entity {entity!r}; known: {sorted(ENTITIES)}")
        known_fields = {f.name for f in ENTITIES[entity]}
        columns = []
        for field_name, spec in raw["columns"].items():
            if field_name not in known_fields:
                raise LayoutError(f"{where}: column {field_name!r} is not a field of {entity}")
            if isinstance(spec, dict):
                columns.append(ColumnSpec(field_name, _as_tuple(spec["aliases"]), spec.get("unit")))
            else:
                columns.append(ColumnSpec(field_name, _as_tuple(spec)))
        for column in columns:
            if column.unit and column.unit not in UNIT_FACTORS:
                raise LayoutError(f"{where}: unit {column.unit!r} of {column.field} is not one of {list(UNIT_FACTORS)}")
        header = raw.get("header", {})
        spec = SourceSpec(
            name=raw["source"],
            department=raw["department"],
            entity=entity,
            description=raw.get("description", "").strip(),
            files=_as_tuple(raw["files"]),
            sheets=_as_tuple(raw.get("sheets", ".*")),
            header_find=_as_tuple(header["find"]),
            header_rows=int(header.get("rows", 1)),
            skip_after_header=int(header.get("skip_after", 0)),
            unit=raw.get("unit", "元"),
            columns=tuple(columns),
            ignore_columns=_as_tuple(raw.get("ignore_columns")),
            constants=dict(raw.get("constants", {})),
            filename_fields=_as_tuple(raw.get("filename_fields")),
            sheet_fields=_as_tuple(raw.get("sheet_fields")),
            drop_pattern=raw.get("drop_pattern", DEFAULT_DROP_PATTERN),
            footer_pattern=raw.get("footer_pattern", DEFAULT_FOOTER_PATTERN),
            label_columns=int(raw.get("label_columns", 3)),
            layout_file=layout_file,
        )
    except KeyError as missing:
        raise LayoutError(f"{where}: required key {missing} is missing") from None
    if spec.unit not in UNIT_FACTORS:
        raise LayoutError(f"{where}: unit {spec.unit!r} is not one of {list(UNIT_FACTORS)}")
    provided = {c.field for c in spec.columns} | set(spec.constants) | spec.pattern_fields
    missing = [f.name for f in ENTITIES[entity] if f.required and f.name not in provided]
    if missing:
        raise LayoutError(f"{where}: required fields of {entity} have no column, constant or name pattern: {missing}")
    return spec



def load_layout(path: Path) -> SourceSpec:
    return parse_layout(yaml.safe_load(path.read_text(encoding="utf-8")), layout_file=path.name)


@cache
def load_layouts(directory: Path = LAYOUT_DIR) -> tuple[SourceSpec, ...]:
    specs = tuple(load_layout(p) for p in sorted(Path(directory).glob("*.yaml")))
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise LayoutError(f"source names used by more than one layout: {sorted(duplicates)}")
    return specs


def layout_by_name(name: str, directory: Path = LAYOUT_DIR) -> SourceSpec:
    for spec in load_layouts(directory):
        if spec.name == name:
            return spec
    raise LayoutError(f"no layout named {name!r}; known: {[s.name for s in load_layouts(directory)]}")
