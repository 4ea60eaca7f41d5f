"""The pipeline's stages as plain functions; Dagster assets (fund_pipeline/defs) call them."""
