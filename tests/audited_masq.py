"""`python -m tests.audited_masq ARGS…`: the `masq` command with its scripts built under the key audit
(tests/lua_audit.py), for the tests that run a worker in a child process."""

from app.cli import main
from tests import lua_audit

lua_audit.install()
main()
