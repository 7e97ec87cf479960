"""The Fuel master: Nailgun API subset, keystone v2.0 and the orchestrator."""
