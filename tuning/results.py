"""A finished search's results: `best_hparams.json`, `metrics.json`, `report.md`, the plot.

All of it is made from the rows of `trials.csv` (`Ledger.trial_rows()`), so a report can be
rewritten from a search's folder at any time.
"""

from __future__ import annotations

import math
import statistics

from suite.plots import new_figure
from suite.report import Report
from training.metrics import monitor_mode
from tuning.space import HPARAMS, REPORT_HPARAMS, REPORT_TABLES, SEED

# The report's Tables 1-4 (see ../shared/REPORTED.md): value -> (accuracy, loss, params).
# In Table 1 the rows for 6, 10 and 13 layers read (0.31, 0.86), (0.27, 0.88), (0.21, 0.91):
# those look like (loss, accuracy) with the columns swapped; they are shown as printed.
REPORTED = {
    "depth": {6: (0.3109, 0.8574, 2_736_066), 10: (0.2713, 0.8841, 5_147_458),
              13: (0.2068, 0.9078, 17_076_546), 16: (0.9445, None, 23_111_490),
              19: (0.9304, 0.1922, 39_896_898)},
    "kernel_size": {2: (0.5832, 0.6919, None), 3: (0.5761, 0.6912, None),
                    4: (0.5444, 0.6894, None), 5: (0.5418, 0.6930, None)},
    "batch_size": {16: (0.5320, 0.6892, None), 32: (0.5015, 0.6919, None),
                   64: (0.4859, 0.6935, None), 128: (0.5000, 0.6929, None)},
    "learning_rate": {0.03: (0.8935, 0.2417, None), 0.01: (0.8595, 0.3279, None),
                      0.003: (0.6930, 0.5981, None), 0.001: (0.5825, 0.6709, None)},
}
TITLES = {"depth": "Table 1: number of conv layers", "kernel_size": "Table 2: kernel size",
          "batch_size": "Table 3: batch size", "learning_rate": "Table 4: learning rate"}


def completed(rows: list[dict], objective: str) -> list[dict]:
    return [r for r in rows if r.get("status") == "completed" and _number(r.get(objective))]


def best_row(rows: list[dict], objective: str) -> dict | None:
    done = completed(rows, objective)
    if not done:
        return None
    pick = min if monitor_mode(objective) == "min" else max
    return pick(done, key=lambda r: float(r[objective]))


def best_hparams(row: dict, objective: str, model: dict | None = None) -> dict:
    """What `python -m tasks.task4 train --hparams` reads, plus where it came from.

    Args:
        model: settings the search held fixed that task 4 must use too to train the same
            net (`filters`, `dense`, `momentum`).
    """
    hparams = {name: _plain(row.get(name)) for name in HPARAMS}
    return {**hparams, **(model or {}), "objective": objective,
            objective: float(row[objective]), "trial_id": row["trial_id"]}


def write_results(run, rows: list[dict], objective: str, settings: str,
                  one_at_a_time: bool, model=None,
                  centre: dict = REPORT_HPARAMS) -> None:
    """`best_hparams.json`, `metrics.json`, `objective_vs_hparams.png` and `report.md`.

    Args:
        model: `model(depth) -> dict` of the fixed settings `best_hparams.json` also needs.
        centre: the configuration the one-at-a-time tables vary one hyper-parameter of.
    """
    best = best_row(rows, objective)
    statuses = [r.get("status") for r in rows]
    metrics = {"trials": len(rows), "trials_completed": statuses.count("completed"),
               "trials_failed": statuses.count("failed") + statuses.count("invalid"),
               "objective": objective,
               # Summed over the trials' rows: a search may span many processes and runs.
               "trial_seconds": round(sum(float(r["seconds"]) for r in rows
                                          if _number(r.get("seconds"))), 1)}
    if best:
        depth = _int(best.get("depth"))
        fixed = model(depth) if model and depth is not None else None
        run.write_json("best_hparams.json", best_hparams(best, objective, fixed))
        metrics.update({f"best_{objective}": float(best[objective]),
                        "best_val_loss": _float(best.get("val_loss")),
                        "best_params": _int(best.get("params")),
                        "best_trial_id": best["trial_id"]})

    report = Report("KerasTuner search: the Dogs-vs-Cats VGG", settings)
    if best:
        report.heading("Best trial")
        report.table(["trial", *HPARAMS, objective, "val loss", "params"],
                     [[best["trial_id"], *(_plain(best.get(h)) for h in HPARAMS),
                       _float(best[objective]), _float(best.get("val_loss")),
                       _int(best.get("params"))]])
        report.paragraph("`best_hparams.json` holds these values for "
                         "`python -m tasks.task4 train --hparams best_hparams.json`.")
    else:
        report.paragraph("No trial completed; see the reasons in `trials.csv`.")
    if one_at_a_time:
        noise = centre_noise(rows, objective, centre)
        tables = _one_at_a_time_tables(report, rows, objective, centre, noise)
        metrics.update({"centre": centre, "centre_noise": noise, "tables": tables})
    else:
        _search_tables(report, rows, objective)
    run.write_metrics(metrics)
    if completed(rows, objective):
        report.image(plot_objective(run, rows, objective),
                     f"{objective} of each completed trial against each hyper-parameter")
    failed = [r for r in rows if r.get("status") in ("failed", "invalid")]
    if failed:
        report.heading("Failed trials")
        report.table(["trial", *HPARAMS, "reason"],
                     [[r["trial_id"], *(_plain(r.get(h)) for h in HPARAMS), r.get("reason")]
                      for r in failed])
    report.paragraph(f"{len(rows)} trials ({metrics['trials_completed']} completed, "
                     f"{metrics['trials_failed']} failed), {metrics['trial_seconds'] / 60:.1f} "
                     f"minutes of building and training in all. Every "
                     f"trial is a row of `trials.csv`; TensorBoard's HParams dashboard: "
                     f"`tensorboard --logdir {run.file('tensorboard')}`.")
    run.write_report(report)


def centre_noise(rows: list[dict], objective: str, centre: dict) -> dict:
    """The centre configuration's completed trials over its seeds: each seed's objective,
    their mean and sample standard deviation (None with fewer than two)."""
    runs = sorted((_int(r.get(SEED)), float(r[objective]))
                  for r in completed(rows, objective)
                  if _matches(r, centre) and _int(r.get(SEED)) is not None)
    values = [v for _, v in runs]
    return {"seeds": [s for s, _ in runs], "values": values,
            "mean": statistics.mean(values) if values else None,
            "sd": statistics.stdev(values) if len(values) >= 2 else None}


def _one_at_a_time_tables(report, rows, objective, centre, noise) -> dict:
    """The report's Tables 1-4 beside this run's; returns each table's best value."""
    report.heading("The report's Tables 1-4, reproduced")
    base = ", ".join(f"{k} {v}" for k, v in centre.items())
    seed = min((_int(r.get(SEED)) for r in rows if _int(r.get(SEED)) is not None), default=0)
    report.paragraph(f"One hyper-parameter varies, the others stay at the centre ({base}), "
                     f"every trial with seed {seed}. Reported figures are from "
                     f"`../shared/REPORTED.md`; the report's centre was "
                     f"{', '.join(f'{k} {v}' for k, v in REPORT_HPARAMS.items())}.")
    threshold = 2 * math.sqrt(2) * noise["sd"] if noise["sd"] is not None else None
    _noise_paragraph(report, noise, objective, threshold)
    centre_row = _find(rows, {**centre, SEED: seed})
    centre_value = _float(centre_row[objective]) if centre_row and \
        centre_row.get("status") == "completed" else None
    scores = {}
    for name, values in REPORT_TABLES.items():
        report.heading(TITLES[name], 3)
        table = []
        for value in values:
            row = _find(rows, {**centre, name: value, SEED: seed})
            acc, loss, params = REPORTED[name][value]
            mine = row if row and row.get("status") == "completed" else None
            score = _float(mine[objective]) if mine else None
            if score is not None:
                scores.setdefault(name, {})[value] = score
            table.append([value, score if mine else (row or {}).get("status", "–"),
                          _float(mine.get("val_loss")) if mine else None,
                          _int(mine.get("params")) if mine else None,
                          _versus(score, centre_value, threshold, value == centre[name]),
                          acc, loss, params])
        report.table([name, f"{objective} (this run)", "val loss (this run)",
                      "params (this run)", "vs centre", "accuracy (report)",
                      "loss (report)", "params (report)"], table)
    pick = min if monitor_mode(objective) == "min" else max
    tables = {}
    for name, table in scores.items():
        best = pick(table, key=table.get)
        tables[name] = {"best_value": best, f"best_{objective}": table[best],
                        "values": list(table), objective: list(table.values()),
                        "noise_threshold": threshold}
    return tables


def _noise_paragraph(report, noise, objective, threshold) -> None:
    if not noise["values"]:
        report.paragraph("The centre configuration has no completed trial yet: no noise "
                         "figure.")
        return
    runs = ", ".join(f"{v:.4f} (seed {s})" for s, v in zip(noise["seeds"], noise["values"],
                                                           strict=True))
    if noise["sd"] is None:
        report.paragraph(f"**Noise**: the centre ran with one seed only ({runs}); rerun with "
                         f"`--seeds 3` to see which differences are real.")
        return
    report.paragraph(f"**Noise**: the centre configuration with {len(noise['values'])} seeds "
                     f"gave {objective} {runs}: mean {noise['mean']:.4f}, standard deviation "
                     f"{noise['sd']:.4f}. Two single trials differ by more than "
                     f"2 x sqrt(2) x sd = {threshold:.4f} less than one time in twenty by "
                     f"chance alone: the \"vs centre\" column marks such a difference *real*; "
                     f"a smaller one is within the noise.")


def _versus(score, centre_value, threshold, is_centre: bool) -> str:
    if is_centre:
        return "centre"
    if score is None or centre_value is None:
        return "–"
    diff = score - centre_value
    verdict = "" if threshold is None else (" real" if abs(diff) > threshold else " noise")
    return f"{diff:+.4f}{verdict}"


def _matches(row, values: dict) -> bool:
    return all(_same(_plain(row.get(k)), v) for k, v in values.items())


def _search_tables(report, rows, objective):
    report.heading("Each hyper-parameter's values")
    report.paragraph(f"Completed trials grouped by one hyper-parameter's value: how many, "
                     f"the best and mean {objective}, and the best trial's val loss.")
    done = completed(rows, objective)
    for name in HPARAMS:
        groups = {}
        for r in done:
            key = _plain(r.get(name))
            if name == "learning_rate" and len(done) > 8 and _number(key):
                key = round(float(key), 4)
            groups.setdefault(key, []).append(r)
        table = []
        for value in sorted(groups, key=_order):
            group = groups[value]
            scores = [float(r[objective]) for r in group]
            best = best_row(group, objective)
            table.append([value, len(group), _float(best[objective]), sum(scores) / len(scores),
                          _float(best.get("val_loss")), _int(best.get("params"))])
        report.heading(name, 3)
        report.table([name, "trials", f"best {objective}", f"mean {objective}",
                      "val loss (best)", "params (best)"], table)


def plot_objective(run, rows, objective: str, name: str = "objective_vs_hparams.png") -> str:
    """One panel per hyper-parameter: each completed trial's objective against its value."""
    done = completed(rows, objective)
    fig, axes = new_figure(1, len(HPARAMS), width=3.2 * len(HPARAMS), height=3.2)
    for ax, hp in zip(axes, HPARAMS, strict=True):
        # A value that is no number (a state file of another search) is left off its panel.
        shown = [r for r in done if hp == "optimizer" or _positive(r.get(hp))]
        x = [_plain(r.get(hp)) for r in shown]
        y = [float(r[objective]) for r in shown]
        if hp == "optimizer":
            labels = sorted(set(map(str, x)))
            x = list(map(str, x))
            x = [labels.index(v) for v in x]
            ax.set_xticks(range(len(labels)), labels)
        ax.scatter(x, y, alpha=0.7)
        if hp == "learning_rate":
            ax.set_xscale("log")
        elif hp == "batch_size":
            ax.set_xscale("log", base=2)
        ax.set(xlabel=hp, ylabel=objective if ax is axes[0] else None)
        ax.grid(alpha=0.3)
    return run.save_figure(fig, name)


def _find(rows, values: dict):
    return next((r for r in rows if _matches(r, values)), None)


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


def _plain(value):
    """A value read back from CSV as the number or word it was."""
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def _int(value) -> int | None:
    """A whole number read back from CSV or a state file, or None if it is none."""
    return int(float(value)) if _number(value) else None


def _positive(value) -> bool:
    return _number(value) and float(value) > 0


def _order(value):
    """A sort key for a table's values: numbers in order, then anything else as text."""
    return (0, float(value), "") if _number(value) else (1, 0.0, str(value))


def _number(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _float(value):
    return float(value) if _number(value) else None

