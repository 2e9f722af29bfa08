"""The bundled GPT trainer (needs torch: pip install webcorpus[train]); the data stages never import it."""
