"""What a sweep's jobs are doing: the one decider of a job's state, the views built from
the files and the scheduler's answers, and acting on them (resume, cancel, remove).

Uses store, project, planning and launch; used by results, search and cli. The
observation path never imports Hydra.
"""
