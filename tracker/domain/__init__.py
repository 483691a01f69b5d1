"""The pure domain core: records, protocols, measures, flags and schedules.

Imports only the standard library and `tracker.errors`; no database, CLI, plotting or
JSON-Schema library (tests/test_architecture.py checks this).
"""
