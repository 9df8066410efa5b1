"""memento-syncd: sync daemon and cloud sync server for Memento observations."""

__version__ = "0.1.0"
