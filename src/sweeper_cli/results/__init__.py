"""What finished runs left behind: metrics found in their files, the comparison table and
its plots, and adopting a folder made by Hydra's own `--multirun`.

Uses the wings below it (store to state); used by search and cli.
"""
