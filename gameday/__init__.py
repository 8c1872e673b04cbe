"""gameday: chaos and disaster-recovery drills with measured, signed results."""

__version__ = "0.1.0"
