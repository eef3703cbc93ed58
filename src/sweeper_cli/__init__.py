"""thesis-sweep: sweep orchestrator for Hydra apps."""

__version__ = "0.1.0"
