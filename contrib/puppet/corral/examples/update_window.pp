# Puppet owns the maintenance window; corral-updated (strategy `external`) owns the
# rest: checking, verifying, staging, the health gate and rollback.
schedule { 'maintenance':
  range   => '02:00 - 04:00',
  weekday => ['Sat', 'Sun'],
}

# In the window: install what is staged and reboot into it. Outside it Puppet does
# nothing here, and corral-updated stages releases but reboots only when asked.
corral_update { $facts['networking']['hostname']:
  hold          => released,
  reboot        => when_staged,
  schedule      => 'maintenance',
  endpoint      => 'https://store1:2379',
  ca_file       => '/etc/corral/ca.crt',
  username      => 'puppet',
  password_file => '/etc/puppetlabs/corral.pw',
}
