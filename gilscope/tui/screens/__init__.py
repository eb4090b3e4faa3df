"""Modal screens: help and run settings."""
