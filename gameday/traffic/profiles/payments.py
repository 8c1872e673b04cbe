"""Built-in profile: fuel-station payment app users (pay, check balance, look at coupons)."""

from __future__ import annotations

import random

from locust import HttpUser, between, task


class PaymentUser(HttpUser):
    """A customer: mostly pays, sometimes checks the balance, rarely looks at coupons."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        """Each simulated user keeps one account for the whole run."""
        self.account = f"acct-{random.randint(1, 10_000)}"

    @task(6)
    def pay(self) -> None:
        """POST /pay: the protected, high-priority call."""
        amount = random.randint(100, 20_000)  # cents
        self.client.post("/pay", json={"account": self.account, "amount": amount}, name="pay")

    @task(3)
    def balance(self) -> None:
        """GET /balance?account=...: a read served from a replica."""
        self.client.get("/balance", params={"account": self.account}, name="balance")

    @task(1)
    def coupons(self) -> None:
        """GET /coupons: low priority, the first call shed under a surge."""
        self.client.get("/coupons", name="coupons")
