"""The user's project: settings and their sources, cluster profiles, resource amounts as
users write them, site tables (`data/sites/`), the rules for a profile's extra submit
lines, writing `[tool.thesis-sweep]` into pyproject.toml, finding the Hydra apps, and the
app to run.

Uses `store`; used by every wing above it (planning, launch, state, results, search, cli).
"""
