"""Held-out evaluation of the blur model (the command: `python -m training.evaluate`, see cli.py).

One module per step, in the order a run goes through them:
- plan.py: how big a run is (`Plan`, `QUICK_PLAN`) and the tasks of each held-out set, fixed by the seed;
- examples.py: each task made into a `Row` (rows.py) and its model views, in worker processes;
- predict.py: the model loaded through model.contract (Keras only, no Beam) over every set, and its cost;
- metrics.py: pure metric functions (accuracy, Wilson interval, confusion matrix, ROC, AUC);
- figures.py: every figure of the report from the rows, each part its own function, and the targets;
- plots.py: the PNG plots, from the figures;
- report.py + report_template.md: EVALUATION.md, the template filled in from the result JSON and the
  model's metadata, nothing written by hand;
- run.py: one evaluation from start to finish (`evaluate`, `write_outputs`); cli.py: the command line.

Adding a held-out set (say, real motion blur): a task class in plan.py and a function listing its tasks;
its maker in examples.py (`_MAKERS`); its task list in `run.evaluate`'s `task_sets` (its rows and views
come back under the same name, and are predicted with the others); a figures function in figures.py,
added to `compute_figures` (and to `TARGETS` / `measured_for_targets` if it has a target); a section in
report_template.md with its values in `report.report_values`.
"""
