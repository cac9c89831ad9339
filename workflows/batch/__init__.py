"""The BatchJob workflow: a JSONL of inputs mapped over a model, checkpointed per item."""
