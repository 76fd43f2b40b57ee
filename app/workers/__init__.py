"""QObject workers that live on their own QThreads (engine, downloads)."""
