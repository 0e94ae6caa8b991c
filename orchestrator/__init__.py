"""Control-machine side."""
