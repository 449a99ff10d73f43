"""Suite-wide settings: every Ray this suite starts is a throw-away local one (no token auth, no usage stats), and
no Ray API call ever starts or joins a Ray by itself (a test thread asking for an actor before the run's own
ray.init would otherwise start a second Ray in the same process)."""
import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
