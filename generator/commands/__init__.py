"""One module per command. Each takes plain values and returns results and findings; the CLI
(`generator.cli`) parses arguments, prints, and chooses the exit status."""
