"""Shape aliases (jaxtyping) shared by the public signatures; floor 0: imports numpy, jax and jaxtyping only.

Dimension names: d the dimension, K the components, M the groups of a partition, T the times (``*T``: any shape of
times, for elementwise maps), n the points or draws (``*n``: any batch of points; ``*#n``: broadcastable to it).

Inputs are honest about what the functions take: ``ArrayLike`` is a jax or numpy array, a numpy scalar or a Python
number, of any float width (float32 or float64); ``Real`` also takes integers (the library refuses booleans,
complex numbers and text with its own ``ValueError``). Times and tables also take a flat list or tuple of numbers
(``NumberList``, which jaxtyping cannot shape-check). Outputs name what they are: jax ``Array`` or numpy
``np.ndarray`` (``NpValues``: or a numpy scalar, for a scalar input). Annotations are not checked at run time; the
tests (``tests/test_shapes.py``) check them with ``jaxtyping.jaxtyped(typechecker=beartype.beartype)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jax import Array
from jaxtyping import ArrayLike, Float, Integer, PRNGKeyArray, Real, UInt32

# ------------------------------------------------------------------------------------------------------- inputs
NumberList = Sequence[float | int | np.floating | np.integer]  # a flat list/tuple of numbers (not shape-checked)
Times = Real[ArrayLike, "*T"] | NumberList  # times (or log-SNRs, SNRs) of any shape, for elementwise maps
TimeGrid = Real[ArrayLike, ""] | Real[ArrayLike, "T"] | NumberList  # a time or a 1-D grid (``check_times``)
BatchTimes = Real[ArrayLike, "*#n"] | NumberList  # posterior times: broadcastable to x.shape[:-1]
Table = Real[ArrayLike, "T"] | NumberList  # a 1-D table: a grid of times, a discrete schedule's steps
Points = Real[ArrayLike, "*n d"]  # points x of shape (..., d)
Labels = Integer[ArrayLike, "*#n"]  # an int or an integer array broadcastable to x.shape[:-1]
Weights2 = Real[ArrayLike, "2"] | NumberList  # the two weights (π_0, π_1) of a binary channel
Basis = Float[ArrayLike, "d d"] | Float[ArrayLike, "K d d"]  # a shared eigenbasis or one per component
Scales = Float[ArrayLike, "*n"]  # a(t) or σ(t)² broadcast to the batch of points
LogProbs = Float[ArrayLike, "*n K"]  # log-probabilities of the K components per point
Residuals = Float[ArrayLike, "*n K d"]  # per point and component: residuals r_k, variances c_k
Seed = int | np.integer | PRNGKeyArray | UInt32[np.ndarray, "2"]  # an int seed, jax.random.key or a raw key

# ------------------------------------------------------------------------------------------------------ outputs
TimeValues = Float[Array, "*T"]  # a jax array shaped like the times
NpValues = Float[np.ndarray, "*T"] | np.floating  # numpy, shaped like the times (a numpy scalar for a scalar)
Grid = Float[np.ndarray, "T"]  # a 1-D numpy grid of times
GridOut = Float[np.ndarray, ""] | Float[np.ndarray, "T"]  # checked times: a 0-d or 1-D numpy array
PerPoint = Float[Array, "*n"]  # one value per point
PointsOut = Float[Array, "*n d"]  # one vector per point
PerComponent = Float[Array, "*n K"]  # one value per point and component
PerGroup = Float[Array, "*n M"]  # one value per point and group of a partition
Posterior = PerComponent | PerGroup  # per component, or per group with a partition
PerComponentPoints = Float[Array, "*n K d"]  # one vector per point and component
Samples = Float[np.ndarray, "n d"]  # n draws in dimension d
PointLabels = Integer[np.ndarray, "n"]  # the component of each of n draws
GroupPriors = Float[np.ndarray, "M K"]  # a table per group and component
InBases = Float[Array | np.ndarray, "*n #K d"]  # coordinates in every component basis (K, or 1 when shared)
