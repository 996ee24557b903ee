"""`monitor_repo`: what changed since the last trained commit, the watcher that sees saves as they happen, and the
significance policy that says when to retrain."""
