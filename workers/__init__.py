"""RQ jobs and the worker that runs them: tenant callbacks, expiry, outbound calls."""
