"""Basics every layer uses: errors, reporting (progress and warnings), seeding, params, registry,
configs, atomic files, JSON helpers.
"""
