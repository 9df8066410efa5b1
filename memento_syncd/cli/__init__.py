"""Command-line entry points: thin wrappers that import only what a command needs."""
