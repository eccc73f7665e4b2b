"""The REST API and the health endpoints."""
