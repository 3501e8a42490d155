"""Keras training pieces shared by tasks 2-4 and the tuner: optimisers, callbacks, compile and
fit with logs, and the per-variant study loop. Keras is imported inside the functions."""
