// The recording entry points of the C interface (marty_counter_inc, marty_gauge_set,
// marty_histogram_observe, ...), written in C: a handle points straight at the series'
// cells, so a call is a NULL check, the thread's shard and one atomic instruction.
// Their prototypes are in include/marty_metrics.h.
#ifndef CMARTY_RECORDING_H
#define CMARTY_RECORDING_H
#endif
