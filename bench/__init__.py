"""gameday's benchmarks: how exact, how fast, how much overhead. Run `python -m bench --help`."""
