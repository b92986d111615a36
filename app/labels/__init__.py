"""Labels administration."""
