"""landing/<source>: one asset per department source, all built by one factory from the layouts."""


from dataclasses import replace

import dagster as dg
import pandas as pd

from fund_pipeline.defs.jobs import register_years
from fund_pipeline.defs.resources import FundPipelineResource
from fund_pipeline.memory import freed_blocks_returned
from fund_pipeline.pipeline.accounting import ACCOUNTING_RULES
from fund_pipeline.pipeline.findings import carry_findings_forward, findings_slice, replace_findings
from fund_pipeline.pipeline.fingerprints import FINGERPRINTS_METADATA_KEY, source_fingerprints
from fund_pipeline.pipeline.ingest import IngestResult, LandedFiles, in_place_query, ingest, repeats_query
from fund_pipeline.pipeline.landing_cache import LandingCache
from fund_pipeline.pipeline.step_inputs import (
    StepRecord,
    code_and_configuration,
    forget,
    inputs_digest,
    record,
    recorded,
    unchanged,
)
from fund_pipeline.report.masking import mask_text
from fund_pipeline.rules.catalogue import load_catalogue
from fund_pipeline.sources.reader import inbox_problem
from fund_pipeline.sources.schemas import conform
from fund_pipeline.sources.spec import SourceSpec, load_layouts
from fund_pipeline.warehouse import sql_list


def landing_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", source])


# A source read ahead lands after every step that does not need it: its files are read meanwhile.
READ_AHEAD_PRIORITY = {"dagster/priority": "-1"}


def build_ingest_asset(spec: SourceSpec, read_ahead: bool = False) -> dg.AssetsDefinition:
    description = (
        f"{spec.department}: {spec.description}\n\n"
        f"Reads `{'`, `'.join(spec.files)}` from the inbox with the layout `{spec.layout_file}` and lands every "
        "data row, with its file, SHA-256, sheet and Excel row number, in `landing." + spec.name + "`. "
        "Unreadable files, unknown headers and unreadable cells become INGEST-* findings; nothing stops other sources."
    )

    @dg.asset(
        key=landing_key(spec.name),
        group_name="landing",
        description=description,
        kinds={"excel", "python"},
        metadata={"department": spec.department, "entity": spec.entity, "layout": spec.layout_file},
        tags={"entity": spec.entity},
        op_tags=READ_AHEAD_PRIORITY if read_ahead else None,
    )
    def _ingest(context: dg.AssetExecutionContext, fund: FundPipelineResource) -> dg.MaterializeResult:
        problem = inbox_problem(fund.inbox_path)
        if problem:  # landing nothing would un-publish every department: the step fails and changes nothing
            raise dg.Failure(description=problem, allow_retries=False)
        # Taken before reading: a file changed while it is read then differs, and the sensor re-runs it.
        fingerprints = source_fingerprints(spec, fund.inbox_path)
        warehouse = fund.warehouse()
        step, digest = landing_step(spec.name), inputs_digest("landing", spec.name, landing_inputs(fingerprints))
        if fund.cache_path is not None:
            kept = unchanged(warehouse, step, digest, {"rows_read": landed_rows(warehouse, spec.name)})
            if kept is not None:
                return keep_landing(context, warehouse, spec, kept.metadata, fingerprints)
        landed = landed_files(warehouse, spec.name, recorded(warehouse, step)) if fund.cache_path else None
        forget(warehouse, step)
        cache = LandingCache(fund.cache_path, spec) if fund.cache_path else None
        with freed_blocks_returned():
            result = land(context, warehouse, spec, fund.inbox_path, cache, landed)
        if result.files_reused:
            context.log.info(f"{spec.name}:读取 {len(result.files_read)} 个新的或有变化的文件,"
                             f"沿用 {len(result.files_reused)} 个未变文件上次的读取结果")
        # Typed here: the table is created by whichever source first has notes, and an empty frame has no types.
        notes = result.notes.astype({"source_file": "string", "sheet": "string", "row_number": "Int64", "text": "string"})
        warehouse.append("audit", "file_notes", notes.assign(source=spec.name, run_id=context.run_id),
                         delete_where=f"source = '{spec.name}'" if warehouse.table_exists("audit", "file_notes") else None)
        replace_findings(warehouse, result.findings, context.run_id, source=spec.name, ingest=True, leave=ACCOUNTING_RULES)
        new_years = register_landed_years(context.instance, warehouse, spec.name)
        if new_years:
            context.log.info(f"新的财政年度分区:{', '.join(new_years)}")
        errors = result.findings[result.findings["severity"] == "error"]
        for message in mask_text(errors["message"].head(20)):
            context.log.warning(message)
        summary = {
            "rows_read": result.rows_read,
            "files": len(result.files),
            "unreadable_files": sum(1 for f in result.files if not f.get("readable", True)),
            "ingest_errors": len(errors),
            "ingest_warnings": int((result.findings["severity"] == "warning").sum()),
            "file_list": [{k: f[k] for k in ("source_file", "file_sha256")} for f in result.files],
            "files_landed_in_place": len(result.files_in_place or ()),
            "code": code_and_configuration(),  # whether the next landing may keep this one's rows file by file
        }
        record(warehouse, step, digest, summary, context.run_id)
        return dg.MaterializeResult(metadata=landing_metadata(summary, result.files_read, result.files_reused, fingerprints,
                                                              result.files_read_ahead))

    return _ingest


def landing_step(source: str) -> str:
    return f"landing/{source}"


def land(context: dg.AssetExecutionContext, warehouse, spec: SourceSpec, inbox, cache: LandingCache | None,
         landed: LandedFiles | None) -> IngestResult:
    """Read the source and land its rows: where the table holds the unchanged files' rows as they are
    (`landed`), only the other files' rows are replaced; else every row."""
    def read(landed: LandedFiles | None) -> tuple[IngestResult, pd.DataFrame]:
        result, records = ingest(spec, inbox, load_catalogue(), context.run_id, cache=cache, landed=landed,
                                 previous=lambda files: previously_landed(warehouse, spec.name, files))
        records = conform(spec.entity, records)
        records["run_id"] = context.run_id
        return result, records

    result, records = read(landed)
    if result.files_in_place is not None:
        table = f'landing."{spec.name}"'
        replaced = f"coalesce(source_file, '') not in ({sql_list(result.files_in_place)})"
        unless = (f"select 1 from ({repeats_query(spec, table, warehouse.row_hash, replaced)} "
                  f"union all {in_place_query(table, result.files_in_place)}) as found limit 1")
        if warehouse.replace_slices({("landing", spec.name): records}, where=replaced, unless=unless) is not None:
            return result
        # A row repeats another file's (or another run landed the source meanwhile): every row is landed again,
        # and which copy of a repeated row is kept is decided over all of them, as on a first run.
        context.log.info(f"{spec.name}:有行与其他文件的行完全相同(或来源刚被另一运行落地),按全部行重新落地")
        del records
        first = result
        result, records = read(None)  # what the first read took from the inbox is now in the cache
        result = replace(result, files_read=first.files_read, files_reused=first.files_reused,
                         files_read_ahead=first.files_read_ahead)
    warehouse.replace_tables({("landing", spec.name): records})
    return result


def landed_files(warehouse, source: str, previous: StepRecord | None) -> LandedFiles | None:
    """What the source's landing table holds by file, where its rows may be kept file by file: the last
    landing was made by this code and configuration (its record says so) and set no row aside."""
    if previous is None or previous.metadata.get("code") != code_and_configuration():
        return None
    if not warehouse.table_exists("landing", source) or "_set_aside" not in warehouse.columns("landing", source):
        return None
    table = f'landing."{source}"'
    counts = warehouse.query(f"select source_file, file_sha256, count(*) as n, count(_set_aside) as aside "
                             f"from {table} group by source_file, file_sha256")
    if counts["aside"].sum() > 0:
        return None

    def dates(column: str, files: list[str]) -> pd.Series:
        counted = warehouse.query(
            f'select source_file, cast(extract(year from "{column}") as bigint) as dated, count(*) as n from {table} '
            f'where "{column}" is not null and source_file in ({sql_list(files)}) group by 1, 2')
        return counted.set_index(["source_file", "dated"])["n"]

    return LandedFiles({(f, sha): int(n) for f, sha, n in counts[["source_file", "file_sha256", "n"]].itertuples(index=False)},
                       dates)


def landing_inputs(fingerprints: dict[str, list]) -> dict[str, list]:
    """What landing a source depends on in its files: each file's size and SHA-256, and the order the files
    arrived in (it decides which copy of a repeated row or file is kept, and which version is the newest),
    not their times: a regenerated or copied inbox with the same files in the same order is unchanged."""
    def ranks(key) -> dict[str, int]:
        return {name: rank for rank, name in enumerate(sorted(fingerprints, key=key))}

    by_time = ranks(lambda name: (fingerprints[name][1], name))
    by_time_then_length = ranks(lambda name: (fingerprints[name][1], len(name), name))
    return {name: [size, sha, by_time[name], by_time_then_length[name]]
            for name, (size, _, sha) in fingerprints.items()}


def landed_rows(warehouse, source: str) -> int:
    if not warehouse.table_exists("landing", source):
        return -1
    return int(warehouse.query(f'select count(*) as n from landing."{source}"')["n"].iloc[0])


def landing_metadata(summary: dict, files_read: list[str], files_reused: list[str], fingerprints: dict,
                     files_read_ahead: list[str] = ()) -> dict:
    return {
        **{k: v for k, v in summary.items() if k not in ("file_list", "code")},
        "files_read": len(files_read),
        "files_read_ahead": len(files_read_ahead),  # of those read, how many the CLI's run read ahead
        "files_reused": len(files_reused),
        "files_read_list": dg.MetadataValue.json(files_read),
        "file_list": dg.MetadataValue.json(summary["file_list"]),
        FINGERPRINTS_METADATA_KEY: dg.MetadataValue.json(fingerprints),
    }


def keep_landing(context: dg.AssetExecutionContext, warehouse, spec: SourceSpec, summary: dict,
                 fingerprints: dict) -> dg.MaterializeResult:
    """No file of the source changed since it was landed, nor the code or configuration: the landed rows stay,
    and the run carries their reading findings forward (the accounting rules are the audit step's)."""
    carry_findings_forward(warehouse, context.run_id, [landing_findings(spec.name)])
    register_landed_years(context.instance, warehouse, spec.name)
    context.log.info(f"{spec.name}:文件未变,沿用上次读取的 {summary['rows_read']:,} 行")
    files = [entry["source_file"] for entry in summary["file_list"]]
    return dg.MaterializeResult(metadata={**landing_metadata(summary, [], files, fingerprints), "inputs_unchanged": True})


def landing_findings(source: str) -> str:
    """A landing step's findings: the source's reading findings, but for the accounting rules, which the audit
    step computes over every source (a landing step that swapped them out would mark them 已整改, and the
    audit step would then find them 新增)."""
    return findings_slice(source=source, ingest=True, leave=ACCOUNTING_RULES)


def register_landed_years(instance: dg.DagsterInstance, warehouse, source: str) -> list[str]:
    """The fiscal years a source's landed rows carry, as partitions (an instance may not know them yet);
    returns those it did not know."""
    if "fiscal_year" not in warehouse.columns("landing", source):
        return []
    years = warehouse.query(f'select distinct fiscal_year from landing."{source}" where fiscal_year is not null')
    return register_years(instance, years["fiscal_year"].unique())


def previously_landed(warehouse, source: str, files: list[str]) -> pd.DataFrame:
    """With no files: which files this source landed before (source_file, file_sha256). With files: their rows."""
    if not warehouse.table_exists("landing", source):
        return pd.DataFrame(columns=["source_file", "file_sha256"])
    if not files:
        return warehouse.query(f'select distinct source_file, file_sha256 from landing."{source}"')
    return warehouse.read_table("landing", source, where=f"source_file in ({sql_list(files)})")


def ingest_assets(read_ahead: frozenset[str] = frozenset()) -> list[dg.AssetsDefinition]:
    """One landing asset per layout; the sources in `read_ahead` are being read ahead (pipeline/read_ahead.py)."""
    return [build_ingest_asset(spec, spec.name in read_ahead) for spec in load_layouts()]
