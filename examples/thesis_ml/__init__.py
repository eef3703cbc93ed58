"""thesis_ml: a tiny stand-in for a researcher's Hydra training codebase (demo/test app)."""
