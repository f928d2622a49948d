"""Any-granularity mask generator (AGG, paper section 3.2): mask engine, granularity estimator,
post-processing, proposal store and the sharded `generate` driver."""
