"""Training: recipes (validated JSON), the one training loop for every architecture and head layout, batched
augmentation and webcam corruptions, resumable per-epoch state, multi-process (DDP) runs and distillation."""
