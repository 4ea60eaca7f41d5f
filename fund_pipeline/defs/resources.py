"""Resources: the pipeline's settings (inbox, warehouse, reports) and dbt."""


from pathlib import Path

import dagster as dg

from fund_pipeline.settings import Settings
from fund_pipeline.warehouse import Warehouse, release_kept_connections


class FundPipelineResource(dg.ConfigurableResource):
    """Where the spreadsheets arrive, where the warehouse is, where reports go."""

    inbox: str
    warehouse_url: str
    reports_dir: str
    user: str = ""  # who is acting (Settings.user): recorded with dispositions imported from the inbox
    cache_dir: str = ""  # the landing cache (Settings.cache_dir); empty: every file is read on every run

    @classmethod
    def from_settings(cls, settings: Settings) -> "FundPipelineResource":
        return cls(inbox=str(settings.inbox), warehouse_url=settings.warehouse_url, reports_dir=str(settings.reports_dir),
                   user=settings.user, cache_dir=str(settings.cache_dir or ""))

    @property
    def inbox_path(self) -> Path:
        return Path(self.inbox)

    @property
    def reports_path(self) -> Path:
        return Path(self.reports_dir)

    @property
    def data_docs_path(self) -> Path:
        """Where Great Expectations renders its Data Docs (linked from the auditors' report)."""
        return Path(self.reports_dir) / "gx-data-docs"

    @property
    def cache_path(self) -> Path | None:
        return Path(self.cache_dir) if self.cache_dir else None

    def warehouse(self) -> Warehouse:
        """The step's warehouse: one connection for all its queries, closed when the step lets it go
        and at the latest when the resource is torn down (after the run's steps in this process)."""
        return Warehouse.from_url(self.warehouse_url, keep_open=True)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        release_kept_connections()
