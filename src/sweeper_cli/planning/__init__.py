"""From overrides to a created sweep: Hydra's planner (the job list), the search space a
config asks for, validation, naming, and sweep creation (run dirs, index, multirun.yaml).

Uses `store` and `project`; used by launch, state, results, search and cli. The modules
that compose configs import Hydra inside their functions only.
"""
