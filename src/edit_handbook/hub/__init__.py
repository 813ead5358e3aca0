"""Publishing: cards, run_info, pushes (whole folders, per-checkpoint revision branches), releases, the Space bundle."""
