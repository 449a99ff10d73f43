"""rayarb metrics: definitions (``metrics.definitions``), export from every Ray node (``metrics.exporter``), the
Prometheus and Grafana configuration shipped beside them, and charts of a finished run (``metrics.plots``)."""
from metrics.definitions import LATENCY_BUCKETS_S, RayarbMetrics

__all__ = ["LATENCY_BUCKETS_S", "RayarbMetrics"]
