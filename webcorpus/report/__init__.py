"""The run report (html.py: `webcorpus report`, written by every `webcorpus run`) and samples of a run's
documents (samples.py: also `webcorpus inspect`)."""
