"""Campaigns: many sweeps from the lines of one queue file, under one cap on the jobs that
are queued or running, with each line's completeness: the queue file and its lines, each
line's state from its sweep, and launching a campaign's jobs (one local pool, or one
scheduler submission of packs whose own throttle holds the cap).

Uses store, project, planning, launch and state; used by cli. Reading a campaign's state
never imports Hydra.
"""
