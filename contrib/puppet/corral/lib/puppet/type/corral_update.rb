# frozen_string_literal: true

Puppet::Type.newtype(:corral_update) do
  @doc = <<~DOC
    A machine's A/B updates under corral-updated's `external` strategy: Puppet holds
    and releases them and asks for the staged reboot, while corral-updated keeps
    checking, verifying and staging releases and coordinating reboots.

        corral_update { 'web-1':
          hold     => released,
          reboot   => when_staged,   # reboot into a staged release (inside a schedule)
          schedule => 'maintenance',
          endpoint => 'https://store:2379',
        }

    State is read with `corralctl update status -o json` and changed with
    `corralctl update hold|release|reboot`, so it needs an operator's credentials
    (`corral-admin`); `--noop` reads and reports, never writes.
  DOC

  newparam(:machine, namevar: true) do
    desc 'The machine id, as corral-updated and corral-fleet know it.'
    validate do |value|
      unless value.is_a?(String) && value.match?(%r{\A[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\z})
        raise ArgumentError, "corral_update: '#{value}' is not a machine id"
      end
    end
  end

  newproperty(:hold) do
    desc 'held: keep the installed version (no install, no reboot); released: resume updates.'
    newvalues(:held, :released)
  end

  newproperty(:reboot) do
    desc 'when_staged: when a release is staged and waits for a reboot, ask corral-updated to reboot into it now.'
    newvalues(:when_staged)
  end

  newparam(:corralctl) do
    desc 'The corralctl command.'
    defaultto 'corralctl'
  end

  newparam(:endpoint) do
    desc 'Store URL(s), comma-separated (else $CORRAL_ENDPOINT, else the local store).'
  end

  newparam(:ca_file) { desc 'CA verifying the store TLS certificate.' }
  newparam(:cert_file) { desc 'Client certificate for the store.' }
  newparam(:key_file) { desc 'Client key for cert_file.' }
  newparam(:username) { desc 'Store user (an operator: corral-admin).' }
  newparam(:password_file) { desc "File holding the store user's password." }
end
