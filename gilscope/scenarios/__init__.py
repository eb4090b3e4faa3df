"""What runs inside the child processes, and how children are spawned and always reaped."""
