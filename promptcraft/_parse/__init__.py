"""Reading text back: a model's completion into the assistant message it stands for."""
