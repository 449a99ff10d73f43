"""Suite-wide settings: every Ray this suite starts is a throw-away local one (no token auth, no usage stats)."""
import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
