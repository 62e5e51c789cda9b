"""corral-updated: A/B updates with boot counting and coordinated reboots.

One daemon per host, after CoreOS's update_engine and locksmith:
- `engine.Updater` checks the mirror (`corral.mirror.client`, verified by
  `corral.trust`), writes the payload into the passive slot and marks it to boot next
  with one try, then reboots as the strategy says (`reboot`, `lock`, `off`, `external`),
  inside maintenance windows, after draining the machine's units through the scheduler.
- After boot, a slot on trial passes the health gate and is marked good, or is marked
  bad, its release is marked bad in the store for every machine, and the host reboots
  back to the previous slot.
- Slots (`slots.Slots`) have two backends: a directory with a JSON state file (labs and
  tests) and GRUB's environment block (real A/B partitions).

- The channel, strategy and windows are the daemon's flags, overridden by an operator's
  records in the store (`settings`), which it reads at every tick of its loop.

Everything shared lives in the store under `/_corral/update/` (see `records`).
"""
