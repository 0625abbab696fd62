"""Chaos actions, probes, journal and rollback (Chaos Toolkit `python` providers)."""
