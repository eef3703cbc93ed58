"""Hyperparameter searches: the controller that asks Optuna for trials, runs each as a job
of the sweep and tells Optuna the outcome.

Uses every wing below it; used by cli only.
"""
