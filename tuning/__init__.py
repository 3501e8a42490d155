"""The KerasTuner search for task 4's VGG model (`python -m tuning.vgg`).

The names the command line offers live here, free of KerasTuner, so that `--help` and a bad
flag answer without importing TensorFlow; `tuning/oracles.py` and `tuning/space.py` use them.
"""

# The search algorithms `tuning.oracles.make_oracle` knows (besides the one-at-a-time list).
TUNERS = ("random", "bayesian", "hyperband")
# The optimisers a trial may use (`training.optimizers.make_optimizer`'s names).
OPTIMIZERS = ("sgd", "adam")
# What a trial reports besides its objective (trials.csv's columns, in this order).
TRIAL_FIGURES = ("val_loss", "params", "seconds", "epochs_run", "peak_rss_mib")
