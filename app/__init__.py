"""Timbre desktop app (PySide6). The engine (engine/) knows nothing of Qt; this package owns the UI."""
