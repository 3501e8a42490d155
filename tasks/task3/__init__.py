"""Task 3: CNNs against MLPs, weight decay, dropout at inference, batch norm, a CIFAR-10 ConvNet."""

from tasks.task3.experiments import task

__all__ = ["task"]
