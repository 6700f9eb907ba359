"""Reading and writing frames and video. Knows nothing about models."""
