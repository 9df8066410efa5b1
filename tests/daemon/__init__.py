"""End-to-end tests of ``memento-syncd run``: real daemons, a real server, real sockets."""
