"""Task 4: the Kaggle Dogs-vs-Cats challenge with VGG-style CNNs trained from scratch."""

from tasks.task4.experiments import task

__all__ = ["task"]
