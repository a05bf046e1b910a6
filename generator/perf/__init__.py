"""Performance profiles: Envoy with and without a filter, under a real load generator.

`profile` is the model of `catalog/profiles/NAME.yaml`; `target` turns the harness's bootstrap into
the one a benchmark runs and reads the Envoy process's CPU time, memory and request counters;
`loadgen` runs `wrk` or `h2load` and parses what they print; `tls` makes the run's self-signed
certificate; `rounds` alternates the variants round by round; `stats` summarises the rounds and
decides whether a difference is larger than the noise; `results` turns a run's rounds into the
entries of `bench.yaml` (whose model, read by the loader and the site too, is
`generator.metadata.benchfile`) and records them.
"""
