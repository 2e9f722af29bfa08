"""GPU kernels of the trainer: the fused head + loss, products with their elementwise neighbours folded in,
and the experimental Gluon ping-pong product (`GPTConfig.kernels` chooses)."""
