"""The sandbox run in Docker containers, one component per container (tests and benchmarks).

``image`` builds the one local image from this machine's own files, ``stack`` creates the
networks, volume and containers with Compose labels (what the Docker driver acts on), and
inside each container ``node`` starts its component: ``forward`` carries peers' ports over
the Docker networks, ``database`` supervises PostgreSQL.
"""
