"""`make soak` / `qzx soak`: the embedded stack under a steady camera rate, thousands of patrol
long-polls and console SSE streams for minutes, printing throughput, latency percentiles and every
process's RSS each minute, the RSS slope after warm-up, and `qzx reconcile` at the end."""
