"""Starting jobs: the stand-alone job runner, the job-start server and its client (warm
starts), local GPU seats, and `backends/` (local pool, Slurm, HTCondor).

Uses `store`, `project` and `planning`; used by state, results, search and cli. The
runner and the job-start server run by path with the standard library only.
"""
