"""Built-in profile: the payment app during a promotion that brings a crowd of coupon hunters.

The baseline users (``traffic.users``) are ordinary customers, exactly as in ``payments``.
Every user a load surge adds is a coupon hunter: a surge multiplies the low-priority
calls while the payments keep their usual pace, so a drill sees how the rate limiter
sheds load rather than how much payment traffic one machine can generate.
"""

from __future__ import annotations

import random
from typing import Any

from locust import HttpUser, between, events, task

from gameday.traffic.profiles import payments


class Customer(payments.PaymentUser):
    """An ordinary customer; as many as the baseline users, however many users run."""

    fixed_count = 1  # set to the baseline user count when Locust starts


class CouponHunter(HttpUser):
    """Drawn in by the promotion: looks at coupons again and again, now and then the balance."""

    wait_time = between(0.05, 0.2)

    @task(4)
    def coupons(self) -> None:
        """GET /coupons: low priority, the first call shed under a surge."""
        self.client.get("/coupons", name="coupons")

    @task(1)
    def balance(self) -> None:
        """GET /balance: normal priority, shed after the coupons."""
        account = f"acct-{random.randint(1, 10_000)}"
        self.client.get("/balance", params={"account": account}, name="balance")


def _customers_are_the_baseline(environment: Any, **_: Any) -> None:
    # Locust spawns fixed_count users first, then fills the rest by weight: the
    # baseline is all customers and a surge's extra users are all hunters
    baseline = getattr(environment.parsed_options, "num_users", None)
    if baseline:
        Customer.fixed_count = int(baseline)


_init: Any = events.init  # Locust's add_listener is untyped
_init.add_listener(_customers_are_the_baseline)
