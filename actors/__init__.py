"""Thin Ray actors: exchange connections, detector, order manager, position tracker and supervisor."""
