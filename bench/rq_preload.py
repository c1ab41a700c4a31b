"""Settings module for `rq worker -c bench.rq_preload`: importing it loads the job's code in the worker.

RQ's default worker forks a child per job, and a child imports the job's module unless its parent already
has: a deployment would preload it this way, so the comparison does too (it makes RQ faster, not slower).
"""

import bench.deliveries  # noqa: F401 - imported for its side effect: the job's code is loaded before forking
