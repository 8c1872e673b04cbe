"""Closed-loop users with no wait time: each sends its next request as soon as one returns.

The traffic benchmark runs this same file bare and through gameday, so Locust's own CPU is
the bottleneck and any per-request cost of gameday's plugin shows in requests per second.
"""

from __future__ import annotations

from locust import FastHttpUser, HttpUser, constant, task


class NoWaitHttpUser(HttpUser):
    """The `requests`-based client, as gameday's built-in profile uses."""

    wait_time = constant(0)

    @task
    def ping(self) -> None:
        """GET /ping: the cheapest request the local server answers."""
        self.client.get("/ping", name="ping")


class NoWaitFastHttpUser(FastHttpUser):
    """The geventhttpclient-based client: fewer µs per request, so overhead weighs more."""

    wait_time = constant(0)

    @task
    def ping(self) -> None:
        """GET /ping: the cheapest request the local server answers."""
        self.client.get("/ping", name="ping")
