"""The whole loop: one cycle of monitor -> chunk -> index -> train -> validate -> deploy, run in the foreground or
in the background (by a tool call, or by auto mode when the watcher says a change matters)."""
