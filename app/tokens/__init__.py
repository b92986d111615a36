"""Tokens administration."""
