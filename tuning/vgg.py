"""`python -m tuning.vgg`: a KerasTuner search for the Kaggle Dogs-vs-Cats VGG model.

    python -m tuning.vgg --quick                        # 4 random trials of a tiny VGG
    python -m tuning.vgg --one-at-a-time                # the report's Tables 1-4, < 1 hour
    python -m tuning.vgg --tuner bayesian --max-trials 20
    python -m tuning.vgg --size report --epochs 10      # the report's own VGG: for a GPU
    python -m tuning.vgg --quick --local-workers 2      # a chief and 2 workers, loopback

By default a trial is task 4's CPU net at the report's depths, trained for a few minutes on
all 18,000 training photos (its learning rate annealed to zero over them) in a process of its
own, so a search's memory stays flat however many trials it runs. A search trains its trials
the way `python -m tasks.task4 train` trains (full width, its augmentation and label
smoothing, 4 minutes) and starts from train's recipe, so that its best pays in a 30-minute
run; the one-at-a-time tables train half-width nets on mirrored photos for 3 minutes, to fit
an hour.

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
import signal
import subprocess
import sys
from pathlib import Path

from data.augment import AUGMENTS, ENGINES
from data.locate import check_data_dir
from models.vgg import VGG_DEPTHS
from suite.cli import (
    NOT_CONFIG,
    HelpFormatter,
    Parser,
    add_common_flags,
    exit_status,
    fraction,
    int_list,
    nonnegative_int,
    positive_float,
    positive_int,
)
from suite.env import limit_threads, set_seed
from suite.errors import UsageError, must_be
from suite.runs import RunDir
from suite.tf_quiet import import_tensorflow
from training.precision import PRECISION_NOTES, PRECISIONS
from training.recipes import ARCHITECTURES, BUDGET_MAX_EPOCHS, flag_list_type, flag_type
from tuning import OPTIMIZERS, TUNERS

PROG = "python -m tuning.vgg"
RESULTS_DIR = "runs/tuning/vgg"  # --out's default
OBJECTIVES = ("val_accuracy", "val_loss", "accuracy", "loss")
# Flags that say how to run the search, not what it finds: rerunning with another value
# continues the same search (e.g. a larger --max-trials extends it).
NOT_SEARCH_CONFIG = NOT_CONFIG | {"max_trials", "chief", "worker", "local_workers",
                                  "lease_seconds", "chief_timeout", "quiet",
                                  "trials_per_process", "in_child"}
SIZES = ("cpu", "report")  # tuning.space.SIZES, named here so that --help needs no KerasTuner
# How each kind of run searches, and what it changes in task 4's recipe besides the values
# it searches (`base_recipe`); --quick's tiny settings over them (a trial takes seconds on
# 2 cores). A trial under --trial-minutes plans its epochs as train's budget does, within at
# most EPOCH_CAP.
EPOCH_CAP = BUDGET_MAX_EPOCHS
RUNS = {
    # A search (random, Bayesian, Hyperband) of the CPU size trains train's own budgeted
    # recipe (cpu_net at full width, whitened, its augmentation, smoothing and one-cycle):
    # a search that trained its trials as the tables do picked a net that learned fastest in
    # minutes and lost to train's default over 30 (tuning/README.md, "Searches").
    "search": {"max_trials": 20, "epochs": EPOCH_CAP, "trial_minutes": 4.0, "limit": None,
               "width_scale": 1.0, "trials_per_process": 1},
    # The one-at-a-time tables must fit in an hour: half-width nets on mirrored photos,
    # plain labels, no whitening or warm-up, 3 minutes a trial (README, "The tables").
    "tables": {"max_trials": 20, "epochs": EPOCH_CAP, "trial_minutes": 3.0, "limit": None,
               "width_scale": 0.5, "augment": "flip", "label_smoothing": 0.0,
               "whiten": False, "warmup": 0.0, "trials_per_process": 1},
    # The report's own VGG, plain SGD, its augmentation and epochs: a GPU's job.
    "report": {"max_trials": 20, "epochs": 10, "trial_minutes": None, "limit": None,
               "width_scale": 1.0, "dense": [4096, 4096], "augment": "report",
               "momentum": 0.0, "label_smoothing": 0.0, "trials_per_process": 1},
}
QUICK = {"max_trials": 4, "epochs": 1, "trial_minutes": None, "limit": 100,
         "width_scale": 1 / 16, "dense": [32, 32], "augment": "none", "trials_per_process": 0}
# The recipe fields a search's flags (or its kind) set, as `training.recipes.resolve` takes them.
AUGMENT_HELP = "; ".join(f"{name}: {config.describe()}" for name, config in AUGMENTS.items())
RECIPE_FLAGS = ("augment", "label_smoothing", "momentum", "engine", "image_size", "precision",
                "limit", "seed", "epochs", "whiten", "warmup")
CENTRE_SEEDS = 3  # --one-at-a-time runs its centre with this many seeds
# A child process's exit status when it ran its --trials-per-process and trials may remain.
MORE_TRIALS = 75


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                formatter_class=HelpFormatter)
    g = p.add_argument_group("search")
    g.add_argument("--tuner", choices=TUNERS, default="random", help="the search algorithm")
    g.add_argument("--max-trials", type=positive_int,
                   help=f"trials at most (default {RUNS['search']['max_trials']}; quick "
                        f"{QUICK['max_trials']})")
    g.add_argument("--trial-minutes", type=positive_float,
                   help="train each trial under this budget, as task 4's train --budget-"
                        "minutes does: its epochs planned, the learning rate annealed to zero "
                        f"at the last (default with --size cpu: "
                        f"{RUNS['search']['trial_minutes']:g} for a search, "
                        f"{RUNS['tables']['trial_minutes']:g} for --one-at-a-time; none with "
                        "--size report, --quick or Hyperband, whose trials are counted in "
                        "--epochs)")
    g.add_argument("--epochs", type=flag_type("epochs"),
                   help=f"epochs per trial (at most, with --trial-minutes; default "
                        f"{RUNS['report']['epochs']} with --size report; quick "
                        f"{QUICK['epochs']})")
    g.add_argument("--objective", choices=OBJECTIVES, default="val_accuracy",
                   help="the metric the search optimises")
    g.add_argument("--one-at-a-time", action="store_true",
                   help="the report's Tables 1-4: vary one hyper-parameter, hold the others "
                        "at the centre (--size cpu: 6 conv, kernel 3, lr 0.03, batch 64; "
                        "report: 13 conv, kernel 3, lr 0.015, batch 16), and run the centre "
                        "with --seeds seeds to show the noise")
    g.add_argument("--seeds", type=positive_int, default=CENTRE_SEEDS,
                   help="--one-at-a-time: seeds of the centre configuration (--seed, +1, ...)")
    g.add_argument("--trials-per-process", type=nonnegative_int,
                   help="run the trials in fresh processes of this many each, so memory "
                        "stays flat over a long search (default 1; quick and distributed "
                        "runs: 0 = all in this process)")
    g.add_argument("--in-child", action="store_true", help=argparse.SUPPRESS)
    s = p.add_argument_group("search space (default: all of it)")
    s.add_argument("--depths", type=int_list, help="conv layers to try, e.g. 6,13,19")
    s.add_argument("--kernel-sizes", type=flag_list_type("kernel_size"),
                   help="kernel sizes to try (2-5)")
    s.add_argument("--batch-sizes", type=flag_list_type("batch_size"),
                   help="batch sizes to try (16,32,64,128)")
    s.add_argument("--learning-rates", type=flag_list_type("learning_rate"),
                   help="learning rates to choose from (default log-uniform 1e-3...3e-2)")
    s.add_argument("--optimizers", type=_optimizers, help="sgd and/or adam, e.g. sgd,adam")
    d = p.add_argument_group("data and model (task 4's)")
    d.add_argument("--size", choices=SIZES, default="cpu",
                   help="cpu: task 4's cpu_net at the report's depths (batch norm, global "
                        "pooling; a trial in minutes on a laptop); report: the report's VGG "
                        "(64...640 filters, dense 4096; for a GPU or a cluster)")
    d.add_argument("--image-size", type=flag_type("image_size"), default=64,
                   help="image side in pixels")
    d.add_argument("--limit", type=flag_type("limit"),
                   help="at most this many images per class (default all; quick "
                        f"{QUICK['limit']})")
    d.add_argument("--val-fraction", type=fraction, default=0.2,
                   help="share of each class held out for validation")
    d.add_argument("--augment", choices=tuple(AUGMENTS),
                   help=f"the trials' augmentation ({AUGMENT_HELP}); default: a search "
                        f"takes train's recipe's, --one-at-a-time "
                        f"{RUNS['tables']['augment']}, --size report "
                        f"{RUNS['report']['augment']}, --quick {QUICK['augment']}")
    d.add_argument("--no-augment", dest="augment", action="store_const", const="none",
                   help="the same as --augment none")
    d.add_argument("--label-smoothing", type=flag_type("label_smoothing"),
                   help="the trials' label smoothing, as task 4's train --label-smoothing "
                        "(default: a search takes train's recipe's; 0 for --one-at-a-time "
                        "and --size report)")
    d.add_argument("--engine", choices=ENGINES, default="fast",
                   help="augmentation engine: fast (tf.data affine) or legacy "
                        "(ImageDataGenerator)")
    d.add_argument("--width-scale", type=positive_float,
                   help="multiply every conv layer's filters (default with --size cpu: 1 = "
                        "cpu_net's width for a search, 0.5 for --one-at-a-time; 1 = the "
                        "report's 64...640 with --size report; quick 1/16)")
    d.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help=f"the trials' arithmetic, as task 4's train --precision: "
                        f"{PRECISION_NOTES['auto']}")
    d.add_argument("--dense", type=int_list,
                   help="--size report's hidden dense sizes (default 4096,4096; quick 32,32)")
    d.add_argument("--momentum", type=flag_type("momentum"),
                   help="SGD's momentum (default 0.9 with --size cpu; the report's plain "
                        "SGD, 0, with --size report)")
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
    """Fill the flags left unset from `--quick`'s or the size's defaults; check the space."""
    if args.tuner == "hyperband" and args.trial_minutes:
        raise UsageError("Hyperband's rounds are counted in epochs: give --epochs, not "
                         "--trial-minutes.")
    kind = "report" if args.size == "report" else "tables" if args.one_at_a_time else "search"
    defaults = {**RUNS[kind], **(QUICK if args.quick else {})}
    if args.tuner == "hyperband" or (args.epochs and not args.trial_minutes):
        defaults["trial_minutes"] = None  # epochs alone
        if defaults["epochs"] == EPOCH_CAP:
            defaults["epochs"] = RUNS["report"]["epochs"]
    if args.chief or args.worker or args.local_workers:
        defaults["trials_per_process"] = 0  # a worker keeps its id; the chief does not train
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    bad = [v for v in args.depths or [] if v not in VGG_DEPTHS]
    if bad:
        raise UsageError(must_be("--depths", f"one of {', '.join(map(str, VGG_DEPTHS))}",
                                 bad[0]))
    if args.one_at_a_time and args.tuner != "random":
        raise UsageError("--one-at-a-time runs the report's fixed list of trials; leave out "
                         "--tuner.")
    args.recipe = base_recipe(args)
    check_data_dir(args.data_dir, "dogs-vs-cats/ (or its train/ folder's parent)")
    return args


def base_recipe(args):
    """The task-4 recipe every trial starts from: the net's recipe under the trial's budget
    (`training.recipes.resolve`, as `train --budget-minutes` resolves it), with what the
    flags and the kind of run change (`RUNS`); a trial puts its values in place."""
    from training.recipes import resolve as resolve_recipe

    flags = {name: getattr(args, name, None) for name in RECIPE_FLAGS}
    if args.size == "cpu":
        width = ARCHITECTURES["cpu_net"]["width"]
        model, flags["architecture"] = "cpu_net", {"width": max(4, round(width *
                                                                         args.width_scale))}
    else:
        model, flags["architecture"] = "vgg13", {"dense": args.dense}
    return resolve_recipe(model, args.trial_minutes, flags=flags)


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    def body() -> int:
        limit_threads(args.threads)
        resolve(args)
        if args.local_workers:
            return _local(args, argv if argv is not None else sys.argv[1:])
        if args.trials_per_process and not args.in_child:
            return _trial_processes(args, argv if argv is not None else sys.argv[1:])
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
    command = " ".join([PROG, *(a for a in sys.argv[1:] if a != "--in-child")])
    # A worker never wipes a folder: on this machine it shares the chief's.
    return RunDir(out, config, overwrite=args.overwrite and not args.worker,
                  about={"task": "tuning", "experiment": "vgg", "command": command})


def _local(args, argv: list[str]) -> int:
    results_folder(args)  # checks (or, with --overwrite, empties) the folder once, here
    import_tensorflow()  # KerasTuner imports it: quietly, once
    from tuning.distributed import run_local

    argv = _without(argv, {"--overwrite"}, {"--local-workers", "--threads"})
    return run_local(argv, args.local_workers, args.threads)


def _trial_processes(args, argv: list[str]) -> int:
    """Run the search as a chain of fresh processes, each running --trials-per-process
    trials and continuing the search the previous one saved, until one finds it finished.

    In one process each trial leaves memory behind that `clear_session` does not free (a
    long search's peak grows with its trials: tuning/README.md); a process per trial gives
    it all back. A child's
    Ctrl-C, error or kill ends the chain with the child's status
    (the next run of the command continues the search).
    """
    results_folder(args)  # checks (or, with --overwrite, empties) the folder once, here
    command = [sys.executable, "-m", "tuning.vgg", *_without(argv, {"--overwrite"}, set()),
               "--in-child"]
    interrupted = []
    while True:
        child = subprocess.Popen(command)
        # Ctrl-C reaches the child too: it writes its report and exits 130; wait for that.
        # One that lands after the child's last trial (while it shuts down, too late for it
        # to notice) is remembered here and ends the chain all the same.
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
        try:
            status = child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
        if interrupted and status == MORE_TRIALS:
            raise KeyboardInterrupt
        if status != MORE_TRIALS:
            return status


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
    space, combinations = search_space(args)
    datasets, whitening = _photos(args, run)  # decoded only when a trial asks
    oracle, hypermodel, tuner = _tuner(args, run, space, combinations, whitening)

    def report():
        from tuning.results import write_results

        write_results(run, oracle.trial_rows(), args.objective,
                      settings(args, space, combinations), one_at_a_time=args.one_at_a_time,
                      model=hypermodel.fixed_hparams,
                      centre=dict(space.centre))

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
    if tuner.quota_reached:
        return MORE_TRIALS
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
    from tuning.space import CENTRES, SearchSpace, centre_of, one_at_a_time

    # The tables vary the report's centre; a search starts from its base recipe's values.
    centre = CENTRES[args.size] if args.one_at_a_time else centre_of(args.recipe)
    seeds = tuple(range(args.seed, args.seed + (args.seeds if args.one_at_a_time else 1)))
    space = SearchSpace(**{k: tuple(v) for k, v in (
        ("depths", args.depths), ("kernel_sizes", args.kernel_sizes),
        ("batch_sizes", args.batch_sizes), ("learning_rates", args.learning_rates),
        ("optimizers", args.optimizers)) if v}, centre=tuple(centre.items()), seeds=seeds)
    combinations = one_at_a_time(base=centre, seeds=seeds) if args.one_at_a_time else None
    if combinations is None and space.combinations() is not None:
        args.max_trials = min(args.max_trials, len(space.combinations()))
    return space, combinations


def _tuner(args, run: RunDir, space, combinations, whitening=None):
    """What to try (the hypermodel), how to choose (the oracle), how to run (the tuner)."""
    from tuning.oracles import make_oracle
    from tuning.space import VGGHyperModel
    from tuning.tuner import VGGTuner

    oracle = make_oracle(args.tuner, args.objective, args.max_trials, args.seed, args.epochs,
                         combinations=combinations, results_dir=None if args.worker else run.path,
                         lease_seconds=args.lease_seconds, keep_running_trials=args.chief)
    hypermodel = VGGHyperModel(space, args.recipe, size=args.size,
                               width_scale=args.width_scale, whitening=whitening)
    tuner = VGGTuner(oracle, hypermodel, directory=str(run.path), project_name="keras_tuner",
                     chief_timeout=args.chief_timeout, overwrite=False,
                     trials_per_process=args.trials_per_process or None)
    return oracle, hypermodel, tuner


def _run_trials(args, run: RunDir, tuner, datasets) -> None:
    import keras

    tuner.search(datasets, epochs=args.epochs, verbose=0 if args.quiet else 1,
                 callbacks=[keras.callbacks.TensorBoard(str(run.file("tensorboard")),
                                                        write_graph=False)])


def _photos(args, run: RunDir):
    """(`datasets(recipe) -> (train, val)`, `whitening(recipe) -> photos`): the search's
    photos, decoded on the first call (a process that finds the search finished decodes
    none), once per search: the decoded pixels are cached in the results folder for the next
    trial's process."""

    @functools.cache
    def photos():
        from training.photos import cached_arrays

        split = search_split(args, run)
        cache = run.file(f"cache/photos-{args.image_size}px.npz")
        train = cached_arrays(split["train_files"], split["train_labels"], args.image_size,
                              cache)
        val = cached_arrays(split["val_files"], split["val_labels"], args.image_size,
                            cache.with_name(f"val-{cache.name}"))
        print(f"tuning: {len(train[0]):,} training and {len(val[0]):,} validation images",
              flush=True)
        return train, val

    def datasets(recipe):
        from data.dogs import array_pipeline
        from training.photos import MIN_VALIDATION_BATCH, augmentation

        (x_train, y_train), (x_val, y_val) = photos()
        return (array_pipeline(x_train, y_train, recipe.batch_size, augmentation(recipe),
                               shuffle=True, seed=recipe.seed),
                array_pipeline(x_val, y_val, max(MIN_VALIDATION_BATCH, recipe.batch_size)))

    def whitening(recipe):
        from training.photos import whitening_from_arrays

        return whitening_from_arrays(recipe, photos()[0][0])

    return datasets, whitening


SPLIT_KEYS = ("request", "train_files", "train_labels", "val_files", "val_labels")


def search_split(args, run: RunDir) -> dict:
    """The search's training and validation files and labels, listed (every photo opened to
    skip unreadable ones, ~5 s for 22,500) by its first trial process only and kept in
    `cache/split.json`: every later trial of the search takes the same photos from there,
    even if the folder changes meanwhile, so its trials stay comparable."""
    from data.dogs import load_dogs_vs_cats
    from suite.io import atomic_write_json, read_record

    request = {"data_dir": args.data_dir, "env": os.environ.get("SUITE_DATA_DIR"),
               "seed": args.seed, "val_fraction": args.val_fraction, "limit": args.limit}
    path = run.file("cache/split.json")
    if path.exists():
        split = read_record(path, SPLIT_KEYS)
        if split is None:  # a cache: listed again, the same seed gives the same split
            print(f"warning: the search's photo list {path} is unreadable; listing the "
                  f"photos again.", file=sys.stderr)
        elif split.get("request") == request:
            return split
    data = load_dogs_vs_cats(args.data_dir, seed=args.seed, val_fraction=args.val_fraction,
                             limit=args.limit)
    split = {"request": request,
             "train_files": [str(f) for f in data.train_files],
             "train_labels": [int(label) for label in data.train_labels],
             "val_files": [str(f) for f in data.val_files],
             "val_labels": [int(label) for label in data.val_labels]}
    atomic_write_json(path, split)
    return split


def settings(args, space, combinations) -> str:
    """The search in words, for its report."""
    what = ("the report's one-at-a-time list (" + str(len(combinations)) + " trials)"
            if combinations else f"{args.tuner} search, at most {args.max_trials} trials")
    lr = (", ".join(map(str, space.learning_rates)) if space.learning_rates
          else "log-uniform 1e-3...3e-2")
    length = (f"{args.trial_minutes:g} minutes per trial (its epochs planned, the rate "
              f"annealed to zero at the last)" if args.trial_minutes
              else f"{args.epochs} epoch(s) per trial")
    return (f"{what}; {length}; objective {args.objective}. Data: Dogs vs. Cats at "
            f"{args.image_size}x{args.image_size}, "
            f"{'all' if not args.limit else f'at most {args.limit:,}'} images per class, "
            f"{args.val_fraction:.0%} validation. Every trial is this task-4 "
            f"{args.recipe.describe()}, with its own depth, kernel size, learning rate, "
            f"batch size and optimizer from the space: depth {list(space.depths)}, kernel "
            f"{list(space.kernel_sizes)}, lr {lr}, batch {list(space.batch_sizes)}, "
            f"optimizer {list(space.optimizers)}.")


if __name__ == "__main__":
    raise SystemExit(main())
