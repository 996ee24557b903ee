"""The Judge: scores a model's completions on held-out recent changes and decides pass or fail."""
