"""The active-learning loop: trials of episodes (train, evaluate, query) and their files."""
