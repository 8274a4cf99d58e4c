"""Experiment grids: models × data sets × variants × seeds, each cell trained by the one trainer
into its own run directory, resumable, and summarised as the paper's Table 3 (per protocol),
its ablation (Figure 2) and its sensitivity plots (Figure 6). The spec format is documented in
``docs/experiments.md``; ``lrdgraph experiment SPEC --out DIR`` is the command line.

Output directory::

    DIR/spec.yaml                  the effective spec (absolute graph paths, --set merged)
    DIR/runs/<cell>/               one run directory per cell (see ``lrdgraph train``)
    DIR/logs/<cell>.log            the trainer's log of the cell
    DIR/results.csv                every cell × protocol: metrics, best epoch, seconds, config
    DIR/summary.csv                mean, std and n over seeds per dataset/model/variant/metric
    DIR/significance.csv           each *_LRD row against its vanilla row: improvement, p
    DIR/table_<protocol>.md        Table 3 layout, one per protocol
    DIR/table_time.md              epochs and training time per data set, model and variant
    DIR/ablation.csv, ablation_<protocol>.png                    when the spec has `ablation`
    DIR/sensitivity.csv, sensitivity_<key>_<protocol>.png        when it has `sensitivity`
"""
from __future__ import annotations

from .cells import Cell, cell_name, cell_states, plan_cells, select_cells
from .report import write_report
from .results import collect_results, read_merged_rows
from .runner import ExperimentFailed, grid_status, run_experiment
from .spec import (DEFAULT_METRICS, DEFAULT_PLOT_METRICS, LRD_SUFFIX, ExperimentSpec, load_spec,
                   sweep_name)
from .stats import SeedStats, paired_improvement, paired_t_test
from .tables import format_table, format_time_table, significance_rows

__all__ = ["ExperimentSpec", "Cell", "ExperimentFailed", "load_spec", "plan_cells", "select_cells",
           "cell_name", "cell_states", "grid_status", "run_experiment", "read_merged_rows",
           "collect_results", "write_report", "format_table", "format_time_table",
           "significance_rows", "SeedStats", "paired_improvement", "paired_t_test", "sweep_name",
           "DEFAULT_METRICS", "DEFAULT_PLOT_METRICS", "LRD_SUFFIX"]
