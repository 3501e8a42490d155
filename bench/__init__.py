"""Speed benchmarks: each script prints one JSON line with its headline figure under a key
containing `ratio`. Run as scripts (`python bench/train_speed.py`); a package only so that
the layers contract (pyproject.toml, `make lint`) sees what they import."""
