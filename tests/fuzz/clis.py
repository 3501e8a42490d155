"""Every command line of the suite, as the fuzz suite calls it (`harness.Cli`).

The tasks' experiments, `python -m tasks`'s commands (report, and any added later) and
portable's are read from their parsers, so a new experiment or command is fuzzed without
editing this file; so is each one's every flag. The stops are where the command's real work
starts (see `harness.ReachedTraining`).
"""

from __future__ import annotations

from tests.fuzz.harness import Cli

# Where tasks 1-3 load their arrays: task 1 through its own import of the loader.
ARRAYS = ("data.load_dataset", "tasks.task1.experiments.load_dataset")
# Where task 4 and portable load the photos, build the VGG, or predict.
PHOTOS = ("data.dogs.load_dogs_vs_cats", "tasks.task4.submit.predict_dog",
          "models.vgg.build_vgg")
# Where `tasks reproduce` starts child processes: its timing of the machine and its steps.
REPRODUCE = ("tasks.reproduce.measure_cost", "tasks.reproduce.run_step")


def task_clis() -> list[Cli]:
    import tasks.task1.experiments
    import tasks.task2.experiments
    import tasks.task3.experiments
    import tasks.task4.experiments

    clis = []
    for module, stops in ((tasks.task1.experiments, ARRAYS), (tasks.task2.experiments, ARRAYS),
                          (tasks.task3.experiments, ARRAYS), (tasks.task4.experiments, PHOTOS)):
        task = module.task
        clis += [Cli(f"tasks.{task.name} {name}", task.main, task.parser, (name,), stops)
                 for name in task.experiments]
    return clis


def other_clis() -> list[Cli]:
    import bench.numpy_vs_keras
    import bench.pipeline
    import bench.train_speed
    import bench.tuning_memory
    import tasks.__main__
    import tasks.task4.portable
    import tuning.vgg

    portable = tasks.task4.portable
    return [
        # A command of `python -m tasks` may run experiments (a `reproduce`): their stops.
        *[Cli(f"tasks {command}", tasks.__main__.main, tasks.__main__.parser, (command,),
              ARRAYS + PHOTOS + REPRODUCE) for command in commands(tasks.__main__.parser())],
        Cli("tuning.vgg", tuning.vgg.main, tuning.vgg.parser, (),
            ("tuning.vgg.subprocess.Popen", "tuning.distributed.run_local",
             "tuning.vgg._run_trials")),
        *[Cli(f"tasks.task4.portable {command}", portable.main, portable.parser, (command,),
              PHOTOS) for command in commands(portable.parser())],
        Cli("bench/numpy_vs_keras.py", bench.numpy_vs_keras.main, bench.numpy_vs_keras.parser,
            (), ("bench.numpy_vs_keras.run_child", "bench.numpy_vs_keras.child")),
        Cli("bench/pipeline.py", bench.pipeline.main, bench.pipeline.parser, (),
            ("bench.pipeline.measure",)),
        Cli("bench/train_speed.py", bench.train_speed.main, bench.train_speed.parser, (),
            ("bench.train_speed.child", "subprocess.run")),
        Cli("bench/tuning_memory.py", bench.tuning_memory.main, bench.tuning_memory.parser, (),
            ("bench.tuning_memory.peaks",)),
    ]


def commands(parser) -> list[str]:
    """The sub-commands of `parser`."""
    import argparse

    return [name for action in parser._actions
            if isinstance(action, argparse._SubParsersAction) for name in action.choices]


def all_clis() -> list[Cli]:
    return task_clis() + other_clis()
