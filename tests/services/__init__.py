"""Tests of the services in docker/ as real processes against the local MySQL, their harness and
their bounded load test (``python -m tests.services.loadtest``)."""
