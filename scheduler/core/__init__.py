"""Pure time and schedule logic: no Redis, no files, no clock reads (``now`` is a parameter).

``clock`` is the one module in sched that reads the wall clock.
"""
