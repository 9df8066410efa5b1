"""The cloud sync server: aiohttp handlers over a pluggable store."""
