"""The catalogue: organisations, users, tokens, datasets and their versions."""
