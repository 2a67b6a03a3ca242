"""Data files of the card domain (currencies, products, the default card set)."""
