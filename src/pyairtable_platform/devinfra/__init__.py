"""Developer and test infrastructure: project-owned PostgreSQL and Redis, the local stack.

Used by ``make up``/``make test`` and the test suite; never imported by the services.
"""
