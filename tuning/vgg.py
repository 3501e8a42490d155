"""`python -m tuning.vgg`: a KerasTuner search for the Kaggle Dogs-vs-Cats VGG model.

    python -m tuning.vgg --quick                        # 4 random trials of a tiny VGG
    python -m tuning.vgg --tuner bayesian --max-trials 30 --epochs 5
    python -m tuning.vgg --one-at-a-time --limit 500    # the report's Tables 1-4
    python -m tuning.vgg --quick --local-workers 2      # a chief and 2 workers, loopback

Results go to `runs/tuning/vgg/` (or `--out`): `trials.csv`, `best_hparams.json` (for
`python -m tasks.task4 train --hparams`), `report.md`, `objective_vs_hparams.png`,
`tensorboard/` (HParams dashboard) and KerasTuner's own state in `keras_tuner/`.
Rerunning the same command continues an interrupted search; `--overwrite` starts afresh.
The multi-machine recipe (`--chief`, `--worker`) is in tuning/README.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from data.locate import check_data_dir
from models.vgg import VGG_DEPTHS
from suite.cli import (
    NOT_CONFIG,
    HelpFormatter,
    Parser,
    add_common_flags,
    exit_status,
    float_list,
    fraction,
    int_list,
    positive_float,
    positive_int,
)
from suite.env import limit_threads, set_seed
from suite.errors import UsageError, must_be
from suite.runs import RunDir
from suite.tf_quiet import import_tensorflow
from tuning import OPTIMIZERS, TUNERS

PROG = "python -m tuning.vgg"
RESULTS_DIR = "runs/tuning/vgg"  # --out's default
OBJECTIVES = ("val_accuracy", "val_loss", "accuracy", "loss")
# Flags that say how to run the search, not what it finds: rerunning with another value
# continues the same search (e.g. a larger --max-trials extends it).
NOT_SEARCH_CONFIG = NOT_CONFIG | {"max_trials", "chief", "worker", "local_workers",
                                  "lease_seconds", "chief_timeout", "quiet"}

# The report's settings, and the tiny ones of --quick (a trial takes seconds on 2 cores).
FULL = {"max_trials": 20, "epochs": 10, "limit": None, "width_scale": 1.0,
        "dense": [4096, 4096], "augment": True}
QUICK = {"max_trials": 4, "epochs": 1, "limit": 100, "width_scale": 1 / 16,
         "dense": [32, 32], "augment": False}


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                formatter_class=HelpFormatter)
    g = p.add_argument_group("search")
    g.add_argument("--tuner", choices=TUNERS, default="random", help="the search algorithm")
    g.add_argument("--max-trials", type=positive_int,
                   help=f"trials at most (default {FULL['max_trials']}; quick "
                        f"{QUICK['max_trials']})")
    g.add_argument("--epochs", type=positive_int,
                   help=f"epochs per trial (default {FULL['epochs']}; quick {QUICK['epochs']})")
    g.add_argument("--objective", choices=OBJECTIVES, default="val_accuracy",
                   help="the metric the search optimises")
    g.add_argument("--one-at-a-time", action="store_true",
                   help="the report's Tables 1-4: vary one hyper-parameter, hold the others "
                        "at 13 conv, kernel 3, lr 0.015, batch 16")
    s = p.add_argument_group("search space (default: all of it)")
    s.add_argument("--depths", type=int_list, help="conv layers to try, e.g. 6,13,19")
    s.add_argument("--kernel-sizes", type=int_list, help="kernel sizes to try (2-5)")
    s.add_argument("--batch-sizes", type=int_list, help="batch sizes to try (16,32,64,128)")
    s.add_argument("--learning-rates", type=float_list,
                   help="learning rates to choose from (default log-uniform 1e-3...3e-2)")
    s.add_argument("--optimizers", type=_optimizers, help="sgd and/or adam, e.g. sgd,adam")
    d = p.add_argument_group("data and model (task 4's)")
    d.add_argument("--image-size", type=positive_int, default=64, help="image side in pixels")
    d.add_argument("--limit", type=positive_int,
                   help="at most this many images per class (default all; quick "
                        f"{QUICK['limit']})")
    d.add_argument("--val-fraction", type=fraction, default=0.2,
                   help="share of each class held out for validation")
    d.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="the report's augmentation: shifts 0.2, zoom 0.5, shear 0.2, flip "
                        "(default: on; off with --quick)")
    d.add_argument("--engine", choices=("fast", "legacy"), default="fast",
                   help="augmentation engine: fast (tf.data affine) or legacy "
                        "(ImageDataGenerator)")
    d.add_argument("--width-scale", type=positive_float,
                   help="multiply every conv layer's filters (default 1 = the report's "
                        "64...640; quick 1/16)")
    d.add_argument("--dense", type=int_list,
                   help="hidden dense sizes (default 4096,4096; quick 32,32)")
    d.add_argument("--momentum", type=fraction, default=0.0,
                   help="SGD's momentum (the report's plain SGD: 0)")
    m = p.add_argument_group("distributed (KerasTuner's chief/worker mode)")
    role = m.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true",
                      help="serve the search at $KERASTUNER_ORACLE_IP:$KERASTUNER_ORACLE_PORT")
    role.add_argument("--worker", action="store_true",
                      help="run trials for the chief at $KERASTUNER_ORACLE_IP:PORT "
                           "(id $KERASTUNER_TUNER_ID, default worker-<host>-<pid>)")
    role.add_argument("--local-workers", type=positive_int, metavar="N",
                      help="start a chief and N workers on this machine (loopback)")
    m.add_argument("--lease-seconds", type=positive_float, default=60.0,
                   help="chief: requeue the trial of a worker silent this long")
    m.add_argument("--chief-timeout", type=positive_float, default=600.0,
                   help="worker: give up after the chief is unreachable this long")
    m.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    # The flags every task shares (--data-dir, --out, --seed, --quick, --overwrite, ...).
    add_common_flags(p, RESULTS_DIR, ("dogs-vs-cats",), "dogs-vs-cats")
    return p


def _optimizers(text: str) -> list[str]:
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not names or any(n not in OPTIMIZERS for n in names):
        # `Parser` words this as `must_be` does: "--optimizers must be ...; got '...'".
        raise argparse.ArgumentTypeError(
            f"must be a comma-separated list of {' and '.join(OPTIMIZERS)}; got {text!r}")
    return names


def resolve(args) -> argparse.Namespace:
    """Fill the flags left unset from `--quick`'s or the full defaults; check the space."""
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    checks = {"depths": (set(VGG_DEPTHS), f"one of {', '.join(map(str, VGG_DEPTHS))}"),
              "kernel_sizes": (set(range(1, 12)), "between 1 and 11")}
    for name, (allowed, words) in checks.items():
        bad = [v for v in getattr(args, name) or [] if v not in allowed]
        if bad:
            raise UsageError(must_be(f"--{name.replace('_', '-')}", words, bad[0]))
    if args.one_at_a_time and args.tuner != "random":
        raise UsageError("--one-at-a-time runs the report's fixed list of trials; leave out "
                         "--tuner.")
    check_data_dir(args.data_dir, "dogs-vs-cats/ (or its train/ folder's parent)")
    return args


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    def body() -> int:
        limit_threads(args.threads)
        resolve(args)
        if args.local_workers:
            return _local(args, argv if argv is not None else sys.argv[1:])
        return search(args)

    try:
        return exit_status("tuning", body,
                           interrupted="run the same command again to continue the search")
    except Exception as error:
        # A worker whose chief stopped answering: not the user's mistake, so status 1. By
        # name: `tuning.distributed` (gRPC, KerasTuner) is imported only in distributed mode.
        if type(error).__name__ == "ChiefUnreachable":
            print(f"tuning: error: {error}", file=sys.stderr)
            return 1
        raise


def results_folder(args) -> RunDir:
    out = Path(args.out or RESULTS_DIR)
    config = {k: v for k, v in vars(args).items() if k not in NOT_SEARCH_CONFIG}
    # A worker never wipes a folder: on this machine it shares the chief's.
    return RunDir(out, config, overwrite=args.overwrite and not args.worker)


def _local(args, argv: list[str]) -> int:
    results_folder(args)  # checks (or, with --overwrite, empties) the folder once, here
    import_tensorflow()  # KerasTuner imports it: quietly, once
    from tuning.distributed import run_local

    argv = _without(argv, {"--overwrite"}, {"--local-workers", "--threads"})
    return run_local(argv, args.local_workers, args.threads)


def _without(argv, flags, flags_with_values):
    kept, skip = [], False
    for token in argv:
        name = token.split("=", 1)[0]
        if skip:
            skip = False
        elif name in flags:
            pass
        elif name in flags_with_values:
            skip = "=" not in token
        else:
            kept.append(token)
    return kept


def search(args) -> int:
    """Run (or continue) the search in this process: alone, as the chief, or as a worker."""
    _set_role(args)
    run = results_folder(args)
    import_tensorflow()
    set_seed(args.seed)
    start = time.time()
    space, combinations = search_space(args)
    oracle, hypermodel, tuner = _tuner(args, run, space, combinations)
    datasets = None if args.chief else _datasets(args)  # the chief does not train

    def report():
        from tuning.results import write_results

        write_results(run, oracle.trial_rows(), args.objective,
                      settings(args, space, combinations), one_at_a_time=args.one_at_a_time,
                      search_seconds=time.time() - start, model=fixed_settings)

    def fixed_settings(depth):
        return {**hypermodel.architecture(depth), "momentum": args.momentum}

    try:
        _run_trials(args, run, tuner, datasets)
    except KeyboardInterrupt:
        if not args.worker:
            report()  # of the trials finished so far; rerunning continues the search
        raise
    if args.worker:
        print(f"tuning: worker {os.environ['KERASTUNER_TUNER_ID']} done", flush=True)
        return 0
    oracle.write_trials()
    report()
    print(f"\nreport: {run.file('report.md')}")
    return 0


def _set_role(args) -> None:
    """Check (distributed) or clear (one machine) KerasTuner's `KERASTUNER_*` variables."""
    if args.chief or args.worker:
        import_tensorflow()  # before KerasTuner brings it in, unquietened
        from tuning.distributed import chief_address

        chief_address()  # one sentence if the variables are missing
        os.environ.setdefault("KERASTUNER_TUNER_ID", "chief" if args.chief else
                              f"worker-{os.uname().nodename}-{os.getpid()}")
        if args.chief != ("chief" in os.environ["KERASTUNER_TUNER_ID"]):
            raise UsageError(f"KERASTUNER_TUNER_ID={os.environ['KERASTUNER_TUNER_ID']} does "
                             f"not fit --{'chief' if args.chief else 'worker'}: KerasTuner "
                             f"takes an id containing 'chief' for the chief.")
    else:
        # A leftover variable would silently turn a one-machine search into a worker.
        for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
            os.environ.pop(name, None)


def search_space(args):
    """The `SearchSpace` of the flags, and the report's fixed list with --one-at-a-time (else
    None); a finite space caps --max-trials at its size."""
    from tuning.space import SearchSpace, one_at_a_time

    space = SearchSpace(**{k: tuple(v) for k, v in (
        ("depths", args.depths), ("kernel_sizes", args.kernel_sizes),
        ("batch_sizes", args.batch_sizes), ("learning_rates", args.learning_rates),
        ("optimizers", args.optimizers)) if v})
    combinations = one_at_a_time() if args.one_at_a_time else None
    if combinations is None and space.combinations() is not None:
        args.max_trials = min(args.max_trials, len(space.combinations()))
    return space, combinations


def _tuner(args, run: RunDir, space, combinations):
    """What to try (the hypermodel), how to choose (the oracle), how to run (the tuner)."""
    from tuning.oracles import make_oracle
    from tuning.space import VGGHyperModel
    from tuning.tuner import VGGTuner

    oracle = make_oracle(args.tuner, args.objective, args.max_trials, args.seed, args.epochs,
                         combinations=combinations, results_dir=None if args.worker else run.path,
                         lease_seconds=args.lease_seconds, keep_running_trials=args.chief)
    hypermodel = VGGHyperModel(space, input_shape=(args.image_size, args.image_size, 3),
                               width_scale=args.width_scale, dense=args.dense,
                               momentum=args.momentum)
    tuner = VGGTuner(oracle, hypermodel, directory=str(run.path), project_name="keras_tuner",
                     chief_timeout=args.chief_timeout, overwrite=False)
    return oracle, hypermodel, tuner


def _run_trials(args, run: RunDir, tuner, datasets) -> None:
    import keras

    tuner.search(datasets, epochs=args.epochs, verbose=0 if args.quiet else 1,
                 callbacks=[keras.callbacks.TensorBoard(str(run.file("tensorboard")),
                                                        write_graph=False)])


def _datasets(args):
    from data.augment import NO_AUGMENT, REPORT_AUGMENT
    from data.dogs import load_dogs_vs_cats

    data = load_dogs_vs_cats(args.data_dir, seed=args.seed, val_fraction=args.val_fraction,
                             limit=args.limit)
    print(f"tuning: {len(data.train_files):,} training and {len(data.val_files):,} "
          f"validation images", flush=True)
    augment = replace(REPORT_AUGMENT, engine=args.engine) if args.augment else NO_AUGMENT
    return functools.partial(dogs_datasets, data=data, image_size=args.image_size,
                             augment=augment, seed=args.seed)


def dogs_datasets(batch_size: int, *, data, image_size: int, augment, seed: int):
    """(train, val) `tf.data` pipelines of task 4 at this trial's batch size."""
    from data.dogs import make_dataset

    # The files were checked once when loaded: no second pass over them per trial.
    train = make_dataset(data.train_files, data.train_labels, batch_size=batch_size,
                         image_size=image_size, augment=augment, shuffle=True, seed=seed,
                         check=False)
    val = make_dataset(data.val_files, data.val_labels, batch_size=batch_size,
                       image_size=image_size, check=False)
    return train, val


def settings(args, space, combinations) -> str:
    what = ("the report's one-at-a-time list (" + str(len(combinations)) + " trials)"
            if combinations else f"{args.tuner} search, at most {args.max_trials} trials")
    lr = (", ".join(map(str, space.learning_rates)) if space.learning_rates
          else "log-uniform 1e-3...3e-2")
    augmentation = f"the report's ({args.engine} engine)" if args.augment else "none"
    return (f"{what}; {args.epochs} epoch(s) per trial; objective {args.objective}. Data: "
            f"Dogs vs. Cats at {args.image_size}x{args.image_size}, "
            f"{'all' if not args.limit else f'at most {args.limit:,}'} images per class, "
            f"{args.val_fraction:.0%} validation, augmentation {augmentation}. Model: VGG "
            f"with filters x{args.width_scale:g} of the report's, dense "
            f"{', '.join(map(str, args.dense))}, SGD momentum {args.momentum:g}. Space: "
            f"depth {list(space.depths)}, kernel "
            f"{list(space.kernel_sizes)}, lr {lr}, batch {list(space.batch_sizes)}, "
            f"optimizer {list(space.optimizers)}. Seed {args.seed}.")


if __name__ == "__main__":
    raise SystemExit(main())
