"""corralctl: the command line for the store, the scheduler, updates and reboot locks."""
