"""Run outputs: the run directory, metrics and samples as JSONL, plots, the report, reflection words."""
