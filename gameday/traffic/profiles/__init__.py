"""Built-in Locust user profiles (locustfiles). Loaded by Locust, never imported by the engine."""

from pathlib import Path

PROFILES_DIR = Path(__file__).resolve().parent
BUILTIN_PROFILES: dict[str, Path] = {
    "payments": PROFILES_DIR / "payments.py",
    "promotion": PROFILES_DIR / "promotion.py",
}
