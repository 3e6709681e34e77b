"""Adoption from outside: the README's guide followed in a fresh project, on the built wheel."""
