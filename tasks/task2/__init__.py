"""Task 2: a Keras MLP, one study per hyper-parameter, the best configuration, its errors."""

from tasks.task2.experiments import task

__all__ = ["task"]
