"""Where trials run (in-process, a local process pool, Ray) and how many torch threads each process
uses.
"""
