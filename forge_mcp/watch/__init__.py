"""Watching the repository: the watchdog observer, debouncing, and the significance policy."""
