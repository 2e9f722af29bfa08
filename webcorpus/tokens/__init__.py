"""Tokens: BPE training, the tiktoken bridge, tokenizing into llm.c shards, and the shard reader."""
