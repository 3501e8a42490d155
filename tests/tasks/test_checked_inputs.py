"""What tasks 1-4 take in, checked: numbers no run can meet, and the files they read back
corrupted: a study's per-variant records (tasks 2 and 3), a finished search's metrics.json
(task 1), a --model that is no model, or another task's. A resume never silently starts
over: what it cannot read it names, once, and does again."""

import json

import numpy as np
import pytest

from tests.support import make_kaggle, tiny_splits

CORRUPTIONS = {
    "truncated": b'{"rows": [{"epoch": 1',
    "empty": b"",
    "random bytes": np.random.default_rng(0).bytes(200),
    "a list": b"[1, 2]\n",
    "another results file": b'{"val_accuracy": 0.5}\n',  # metrics.json's kind, not a record
}


@pytest.fixture
def fake_data(monkeypatch):
    import data

    monkeypatch.setattr(data, "load_dataset", lambda name, data_dir=None, seed=0: tiny_splits())


def fake_record(label: str) -> dict:
    return {"rows": [{"epoch": 1, "val_accuracy": 0.5, "accuracy": 0.5, "loss": 1.0}],
            "result": {"variant": label, "params": 10, "val_accuracy": 0.5,
                       "best_val_accuracy": 0.5, "train_seconds": 0.1}}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_a_study_redoes_only_the_variant_whose_record_is_unreadable(kind, tmp_path, fake_data,
                                                                     monkeypatch, capsys):
    import tasks.task2.experiments as task2

    trained = []
    monkeypatch.setattr(task2, "train_variant", lambda run, splits, label, *rest: (
        trained.append(label) or fake_record(label)))
    out = tmp_path / "activation"
    argv = ["activation", "--quick", "--dataset", "fashion_mnist", "--out", str(out)]
    assert task2.task.main(argv) == 0 and trained == ["relu", "elu"]
    (out / "variants" / "elu.json").write_bytes(CORRUPTIONS[kind])
    capsys.readouterr()
    assert task2.task.main(argv) == 0
    assert trained == ["relu", "elu", "elu"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert warnings == [f"warning: {out / 'variants' / 'elu.json'} cannot be read as this "
                        f"run's record (a JSON object with rows, result); that variant is "
                        f"trained again."]
    assert json.loads((out / "variants" / "elu.json").read_text())["result"]["variant"] == "elu"


def test_task3_studies_check_their_records_too(tmp_path, fake_data, monkeypatch, capsys):
    import tasks.task3.experiments as task3

    trained = []
    monkeypatch.setattr(task3, "train_compared_model", lambda args, run, splits, name, *rest: (
        trained.append(name) or {"rows": [{"epoch": 1, "accuracy": 0.5, "val_accuracy": 0.5}],
                                 "result": {"model": name, "params": 1, "val_accuracy": 0.5,
                                            "test_accuracy": 0.5, "train_seconds": 0.1}}))
    out = tmp_path / "cnn"
    argv = ["cnn-vs-mlp", "--quick", "--dataset", "fashion_mnist", "--out", str(out)]
    assert task3.task.main(argv) == 0 and trained.count("cnn_50k") == 1
    (out / "variants" / "cnn_50k.json").write_text("[")
    capsys.readouterr()
    assert task3.task.main(argv) == 0
    assert trained.count("cnn_50k") == 2 and trained.count("cnn_206k") == 1
    assert "cnn_50k.json cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["truncated", "random bytes", "a list"])
def test_a_finished_search_with_unreadable_figures_is_run_again_not_reused(kind, tmp_path,
                                                                           capsys):
    from tasks.task1 import task

    argv = ["search", "--dataset", "digits", "--quick", "--configs", "2", "--out",
            str(tmp_path), "--threads", "1"]
    assert task.main(argv) == 0
    (tmp_path / "metrics.json").write_bytes(CORRUPTIONS[kind])
    capsys.readouterr()
    assert task.main(argv) == 0
    out, err = capsys.readouterr()
    assert "reused" not in out
    assert "metrics.json cannot be read" in err and "the experiment runs again" in err
    assert json.loads((tmp_path / "metrics.json").read_text())["configs_tried"] == 2


@pytest.mark.parametrize("kind", ["text", "another task's model"])
def test_analyze_of_a_file_that_is_no_model_of_task2_is_one_sentence(kind, tmp_path, fake_data,
                                                                     capsys):
    from tasks.task2 import task

    model = tmp_path / "model.keras"
    if kind == "text":
        model.write_text("not a model")
    else:
        import keras

        keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                          keras.layers.Dense(2)]).save(model)
    status = task.main(["analyze", "--dataset", "fashion_mnist", "--model", str(model),
                        "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and str(model) in err[0], err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["submit", "analyze"])
@pytest.mark.parametrize("kind", ["text", "task 2's MLP"])
def test_task4_of_a_file_that_is_no_photo_model_is_one_sentence(command, kind, tmp_path,
                                                                capsys):
    from tasks.task4.experiments import task

    data = make_kaggle(tmp_path / "dogs", per_class=4, test=2)
    model = tmp_path / "model.keras"
    if kind == "text":
        model.write_text("not a model")
    else:
        import keras

        keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)]).save(model)
    where = ["--images", str(data / "test1")] if command == "submit" else []
    status = task.main([command, "--data-dir", str(data), "--model", str(model), *where,
                        "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("task4: error: --model must be") and str(model) in err[0]
    assert not (tmp_path / "o").exists()

def test_an_epoch_count_no_run_can_meet_is_one_sentence(tmp_path, capsys):
    from suite.cli import MAX_EPOCHS
    from tasks.task2 import task

    with pytest.raises(SystemExit) as exit_:
        task.main(["best", "--epochs", "1000000000000", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f"--epochs must be a positive integer up to {MAX_EPOCHS:,}; got '1000000000000'" in err
    assert not (tmp_path / "o").exists()
