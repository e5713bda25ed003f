"""Learning helpers shared by pretext tasks, frameworks and queries: training loop, classifier,
uncertainty, validation folds.
"""
