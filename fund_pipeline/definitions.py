"""The Dagster code location: `dagster dev` (workspace.yaml) loads `defs` from here."""

from fund_pipeline.defs.assemble import build_definitions
from fund_pipeline.settings import Settings

defs = build_definitions(Settings.from_env())
