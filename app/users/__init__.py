"""Users administration."""
