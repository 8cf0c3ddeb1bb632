"""Packs: pack directories and .gtpack archives, loaded into one runtime model."""
