"""Files attached to a process: stored privately, served only to people who may see the process."""
