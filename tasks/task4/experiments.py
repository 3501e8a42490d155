"""Task 4: the Kaggle Dogs-vs-Cats challenge with VGG-style CNNs trained from scratch.

    python -m tasks.task4 train --data-dir ../shared/datasets --budget-minutes 30
    python -m tasks.task4 analyze --data-dir ../shared/datasets
    python -m tasks.task4 submit --images ../shared/datasets/dogs-vs-cats/test1 --out submission.csv
    python -m tasks.task4 all --data-dir ../shared/datasets      # the report's recipe

`train` fits one net (the CPU-friendly `cpu_net` by default, the report's 45M-parameter
`vgg13` with `--model vgg13`, or tuning's best with `--hparams`), keeps the best-validation
weights and resumes when run again after an interruption. `analyze` draws feature maps,
misclassified galleries, a confusion matrix and Grad-CAM; `submit` writes Kaggle's
`id,label` file; `all` runs the three with the report's settings (VGG-13, SGD lr 0.015,
batch 16, 200 epochs, augmentation).
"""

from __future__ import annotations

import functools
import time

from suite.cli import Task
from suite.io import read_json
from suite.report import Report, percent
from tasks.task4 import analyze as _analyze
from tasks.task4 import flags as _flags
from tasks.task4 import submit as _submit
from tasks.task4 import train as _train

STARTED = time.time()  # --budget-minutes counts from here: imports and data loading included

task = Task("task4", "Task 4: Kaggle Dogs vs. Cats with VGG-style CNNs.",
            datasets=("dogs_vs_cats",))


@task.experiment("train", "Train one CNN: best val weights kept, resumable, budget-aware.",
                 arguments=_flags.ARGUMENTS, prepare=_flags.prepare)
def run_train(args, run):
    _train.train(args.recipe, args.data_dir, run, started=STARTED,
                 refit_budget=functools.partial(_flags.recipe_from_args, args))


@task.experiment("analyze", "Feature maps, misclassified galleries, confusion matrix, "
                 "Grad-CAM.", arguments=_analyze.ARGUMENTS)
def run_analyze(args, run):
    _analyze.analyze(args, run)


def csv_out_names_the_submission(args) -> None:
    """`submit --out x.csv` names the submission file, as Kaggle users expect. The report then
    goes to the default folder, runs/task4/submit/, which records the latest such submission
    and is replaced each time (the CSV is the result)."""
    if args.out and args.out.lower().endswith(".csv"):
        args.submission, args.out, args.overwrite = args.out, None, True


@task.experiment("submit", "Write the Kaggle submission file (id,label) for the test photos.",
                 arguments=_submit.ARGUMENTS, prepare=csv_out_names_the_submission)
def run_submit(args, run):
    _submit.submit(args, run)


# `all` takes train's flags, with the report's VGG-13 as its net, and hands on those given.
ALL_ARGUMENTS = [(names, {**kw, "default": "vgg13"}) if names == ("--model",) else
                 (names, kw) for names, kw in _flags.ARGUMENTS]


@task.experiment("all", "train (the report's VGG-13 recipe by default), analyze, submit "
                 "(a --refit skips analyze, whose photos it trained on).",
                 arguments=ALL_ARGUMENTS)
def run_all(args, run):
    from training.checkpoints import MODEL_FILE

    model = str(run.path / "train" / MODEL_FILE)
    # A refit trains on the split's validation photos, which are analyze's: its galleries
    # would show photos the net learnt, so a refit goes straight to its submission.
    steps = ["train", "submit"] if args.refit else ["train", "analyze", "submit"]
    task.run_all(args, steps, run,
                 flags={"train": task.flags_for("train", args), "analyze": ["--model", model],
                        "submit": ["--model", model]})
    trained = read_json(run.path / "train" / "metrics.json")
    submitted = read_json(run.path / "submit" / "metrics.json")
    run.write_metrics({"val_accuracy": trained["val_accuracy"], "params": trained["params"],
                       "train_seconds": trained["train_seconds"],
                       "submission_rows": submitted["rows"]})
    scored = "refitted on every labelled photo (nothing validated)" if args.refit else \
        f"{percent(trained['val_accuracy'])} validation accuracy"
    report = Report(f"Task 4: Dogs vs. Cats, {', '.join(steps[:-1])} and submit",
                    f"{trained['model']}, {trained['params']:,} parameters: {scored} after "
                    f"{trained['epochs']} epochs ({trained['train_seconds']:.0f} s); "
                    f"`submit/submission.csv` has {submitted['rows']:,} rows.")
    for name in steps:
        report.paragraph(f"- [{name}]({name}/report.md)")
    run.write_report(report)
