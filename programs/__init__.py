"""Coaching programs (Phase 3): programs as data, a pure engine, and the scheduler that wakes it."""
