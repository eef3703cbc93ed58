"""Backends launch a created sweep's jobs behind one protocol (`base.Backend`): the local
pool, Slurm and HTCondor, chosen by name in `registry`.

Part of the launch wing: uses store, project and planning; the state wing observes what
they launched (and is asked for a run's state through an injected reader, never imported).
"""
