"""OpenMetrics exposition (``marty_metrics.openmetrics.exposition``)."""
