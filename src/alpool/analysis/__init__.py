"""Analysis of run directories: tidy tables, plots (axes in, axes out), correlation, report.

The stage ``alpool analyze`` calls :func:`analyze`; the pieces (tables, correlation, plots) are
usable on their own from Python.
"""

from alpool.analysis.analyze import AnalysisResult, analyze
from alpool.analysis.context import AnalyzeOptions
from alpool.analysis.correlation import bench_table, correlate, correlation_table
from alpool.analysis.tables import beats_random, curve_summary, final_table, trial_table
from alpool.ops.curves import alc

__all__ = [
    "AnalysisResult",
    "AnalyzeOptions",
    "alc",
    "analyze",
    "beats_random",
    "bench_table",
    "correlate",
    "correlation_table",
    "curve_summary",
    "final_table",
    "trial_table",
]
