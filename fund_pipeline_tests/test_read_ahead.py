"""Read ahead (pipeline/read_ahead.py): the new files are read into the landing cache while the run starts; a
large source's landing step runs after the steps that do not need it. Whatever the run publishes equals a
run that reads every file in its step, also with an unreadable file among them, with the small sources' files
read ahead or taken back by their steps, and with a cache the workers cannot write to (then the steps read
the files themselves)."""

from __future__ import annotations

import shutil

import dagster as dg
import pandas as pd
import pytest

from fund_pipeline.defs.dbt_worker import DbtWorker, active, building_in_worker
from fund_pipeline.pipeline.read_ahead import reading_ahead, when_read
from fund_pipeline.pipeline.runner import run_pipeline
from fund_pipeline.settings import dbt_target_path
from fund_pipeline_tests.test_landing_incremental import SOURCE, landing_metadata, settings_for, state

BROKEN = "农业农村局/惠农补贴/2016/坏表镇.xlsx"


def source_bytes(inbox) -> int:
    return sum(p.stat().st_size for p in (inbox / "农业农村局" / "惠农补贴").rglob("*.xlsx"))


@pytest.fixture(scope="module")
def runs(sample_inbox, dagster_home, tmp_path_factory):
    work = tmp_path_factory.mktemp("read_ahead")
    inbox = work / "inbox"
    shutil.copytree(sample_inbox, inbox)
    (inbox / BROKEN).write_bytes(b"PK\x03\x04 not a workbook")
    out, invoke = {}, DbtWorker.invoke  # counted, as the worker's commands
    for name, cache in (("ahead", work / "ahead-cache"), ("blocked", work / "blocked-cache")):
        settings = settings_for(inbox, work / name, cache)
        if name == "blocked":  # the workers' cache folder cannot be made: nothing is kept, the step reads
            (cache / "landing").mkdir(parents=True)
            (cache / "landing" / SOURCE).write_text("not a folder", encoding="utf-8")
        # Every source is read ahead; only the rosters have a large source's share of the bytes. As in
        # `fund-pipeline run`, the run starts dbt's worker once they are read (the first run only).
        with reading_ahead(settings, min_bytes=source_bytes(inbox) - 1) as ahead, \
                building_in_worker(name == "ahead", dbt_target_path(settings.warehouse_url), settings.dbt_env(),
                                   deferred=True):
            out[f"{name}_sources"] = ahead
            when_read(lambda: out.setdefault("worker_before_start", active()))
            commands = out.setdefault(f"{name}_dbt_commands", [])
            DbtWorker.invoke = lambda self, args, *rest, seen=commands: seen.append(args[0]) or invoke(self, args, *rest)
            try:
                out[name] = run_pipeline(settings, read_ahead=ahead)
            finally:
                DbtWorker.invoke = invoke
        out[f"{name}_state"] = state(settings.warehouse_url, out[name].run_id)
    plain = settings_for(inbox, work / "plain", work / "plain-cache")
    out["plain"] = run_pipeline(plain)
    out["plain_state"] = state(plain.warehouse_url, out["plain"].run_id)
    out["ahead_cache"] = work / "ahead-cache" / "landing" / SOURCE
    out["settings"] = settings_for(inbox, work / "plain", work / "plain-cache")
    return out


def test_the_runs_succeed_and_read_the_source_ahead(runs):
    for name in ("ahead", "blocked", "plain"):
        assert runs[name].success, runs[name].error
    assert runs["ahead_sources"] == runs["blocked_sources"] == frozenset({SOURCE})


def test_dbts_worker_started_once_the_large_source_was_read_and_built(runs):
    """`fund-pipeline run` keeps the second CPU for the reader while a large source is read ahead, then starts
    dbt's worker (defs/dbt_worker.py): not before the rosters were read, and the build went to it (the tables it
    built are compared with the plain run's below)."""
    assert runs["worker_before_start"] is None
    assert runs["ahead_dbt_commands"] == ["build"]
    assert runs["blocked_dbt_commands"] == []  # a block not enabled starts none: dbt built in the run's process


@pytest.mark.parametrize("run", ["ahead", "blocked"])
def test_every_table_equals_a_run_that_reads_in_its_steps(runs, run):
    mine, plain = runs[f"{run}_state"], runs["plain_state"]
    assert sorted(mine) == sorted(plain) and "landing." + SOURCE in mine
    for name in mine:
        pd.testing.assert_frame_equal(mine[name], plain[name], obj=name)
    findings = mine["audit.current_findings"]
    assert "INGEST-FILE" in set(findings.loc[findings["source_file"] == BROKEN, "rule_id"])


@pytest.mark.parametrize("run", ["ahead", "blocked"])
@pytest.mark.parametrize("source", [SOURCE, "transport_disbursements", "poverty_households"])
def test_files_read_ahead_count_as_read_in_this_run(runs, run, source):
    mine, plain = landing_metadata(source, runs[run].run_id), landing_metadata(source, runs["plain"].run_id)
    assert mine["files_read_list"] == plain["files_read_list"]
    assert (mine["files_read"], mine["files_reused"]) == (mine["files"], 0) and mine["files"] > 0
    assert source != SOURCE or BROKEN in mine["files_read_list"]


def test_the_step_took_the_workers_reads_from_the_cache(runs):
    metadata = landing_metadata(SOURCE, runs["ahead"].run_id)
    # The worker had all the run's other steps' time: it read most files, if not all (the step takes back and
    # reads itself any the worker had not begun); every read is kept in the cache either way.
    assert 2 < metadata["files_read_ahead"] <= metadata["files"] == len(list(runs["ahead_cache"].glob("*.pkl")))
    # The workers could not keep a read: the step read every file itself, and says so.
    assert landing_metadata(SOURCE, runs["blocked"].run_id)["files_read_ahead"] == 0
    assert landing_metadata(SOURCE, runs["plain"].run_id)["files_read_ahead"] == 0


def test_the_source_read_ahead_lands_after_the_steps_that_do_not_need_it(runs):
    from fund_pipeline.defs.assemble import build_definitions
    from fund_pipeline.defs.ingest import landing_key

    graph = build_definitions(runs["settings"]).resolve_asset_graph()
    needs_it = {"__".join(k.path) for k in dg.AssetSelection.assets(landing_key(SOURCE)).downstream().resolve(graph)}
    stats = {s.step_key: s for s in dg.DagsterInstance.get().get_run_step_stats(runs["ahead"].run_id)}
    landing = stats[f"landing__{SOURCE}"]
    independent = [s for key, s in stats.items() if key.split("__")[0] in ("landing", "clean") and key not in needs_it]
    assert len(independent) > 20
    assert all(s.end_time <= landing.start_time for s in independent)
    # Without read ahead the steps keep their usual order: the source lands among the others.
    plain = {s.step_key: s for s in dg.DagsterInstance.get().get_run_step_stats(runs["plain"].run_id)}
    assert any(s.start_time > plain[f"landing__{SOURCE}"].start_time
               for key, s in plain.items() if key.startswith("landing__"))


def test_a_step_that_arrives_early_shares_the_files_with_the_worker(sample_inbox, tmp_path):
    """The step needs the source before the worker has read it: it takes back the files the worker has not
    begun, from the last one, and reads them itself while the worker goes on; the files are read once each,
    and the step's records and findings are those of reading every file in the step."""
    from fund_pipeline.pipeline.ingest import ingest
    from fund_pipeline.pipeline.landing_cache import LandingCache
    from fund_pipeline.rules.catalogue import load_catalogue
    from fund_pipeline.sources.spec import load_layouts

    inbox = tmp_path / "inbox"
    shutil.copytree(sample_inbox / "农业农村局" / "惠农补贴", inbox / "农业农村局" / "惠农补贴")
    (inbox / BROKEN).write_bytes(b"PK\x03\x04 not a workbook")
    settings = settings_for(inbox, tmp_path / "work", tmp_path / "cache")
    spec = next(s for s in load_layouts() if s.name == SOURCE)
    files = sorted((inbox / "农业农村局" / "惠农补贴").rglob("*.xlsx"))
    assert len(files) >= 5
    with reading_ahead(settings, sources=[SOURCE], min_bytes=1) as ahead:
        assert ahead == frozenset({SOURCE})
        result, records = ingest(spec, inbox, load_catalogue(), "early", cache=LandingCache(settings.cache_dir, spec))
    plain, plain_records = ingest(spec, inbox, load_catalogue(), "early")

    names = sorted(f.relative_to(inbox).as_posix() for f in files)
    assert sorted(result.files_read) == names and result.files_reused == []
    # The first files went to the worker before the step began; the last one was still waiting for it.
    assert 0 < len(result.files_read_ahead) < len(names) and names[-1] not in result.files_read_ahead
    pd.testing.assert_frame_equal(records, plain_records)
    mine, theirs = (f.drop(columns="detected_at").sort_values(["source_file", "row_number", "rule_id"], ignore_index=True)
                    for f in (result.findings, plain.findings))
    pd.testing.assert_frame_equal(mine, theirs)
    assert "INGEST-FILE" in set(result.findings.loc[result.findings["source_file"] == BROKEN, "rule_id"])
    assert len(list((tmp_path / "cache" / "landing" / SOURCE).glob("*.pkl"))) == len(names)
