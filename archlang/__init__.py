"""archlang."""
