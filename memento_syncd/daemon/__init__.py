"""The long-running daemon: scheduler, watcher, realtime subscription, control socket."""
