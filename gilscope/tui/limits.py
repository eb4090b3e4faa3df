"""The smallest terminal the live view is laid out for; the CLI checks it before starting."""

MIN_WIDTH, MIN_HEIGHT = 80, 24
