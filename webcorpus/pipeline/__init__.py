"""The pipeline machinery: the step contract, the registry, YAML pipelines and the local runner."""
