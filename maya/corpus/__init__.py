"""Corpora: the synthesised demo corpus and shard discovery for on-disk corpora."""
