"""Channel adapters: thin translators between messaging platforms and the normalised messages."""
