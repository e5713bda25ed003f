"""The run directory: the one owner of every path, step lifecycle, manifest, summary, resume rule and
index.
"""
