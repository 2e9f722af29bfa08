"""PII scrubbing: the `pii` step and its fast detector built on presidio-analyzer recognizers."""
