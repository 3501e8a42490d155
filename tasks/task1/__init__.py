"""Task 1: a multilayer perceptron in NumPy alone, and the MNIST studies of the reports."""

from tasks.task1.experiments import task

__all__ = ["task"]
