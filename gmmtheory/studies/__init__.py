"""Fixed experiments built from the library: each returns data and writes nothing (the report draws and writes).

Every study takes ``size`` in ``"smoke" | "quick" | "full"`` (:mod:`gmmtheory._sizes`).
"""
