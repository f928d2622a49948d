"""Training: losses, the parameter partition, the jitted train step and the loop."""
