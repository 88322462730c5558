"""Training: data, losses, the loop (one process to many with DDP), checkpoints and export."""
