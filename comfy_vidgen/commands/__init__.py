"""One module per area of the ``vidgen`` command; each exposes ``register(subparsers)``."""
