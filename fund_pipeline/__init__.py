"""fund_pipeline: where a county's integrated agricultural and poverty-alleviation money went."""

__version__ = "0.1.0"
