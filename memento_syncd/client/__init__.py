"""The sync client: local store, HTTP transport, push and pull sessions."""
