"""What tests build their data with, shared between test modules (test modules never
import one another): factories live in tests/factories.py, scenarios and helpers here.

- world.py: worlds built once per module inside an outer transaction, and binding the
  session to a test's connection;
- inspections.py: published scorecards, decisions in open samples, inspections made
  through the services;
- metrics.py: the realistic vendor-month and the independent computation of its metrics;
- sampling.py: decision populations and draws;
- committing.py: helpers for tests that commit for real on PostgreSQL;
- environment.py: a clean process environment for configuration tests;
- server.py: the portal served by gunicorn on loopback (fault and browser tests).
"""
