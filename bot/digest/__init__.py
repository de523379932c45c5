"""Digests: select and rank (pure), render within Discord's limits (pure), deliver (I/O)."""
