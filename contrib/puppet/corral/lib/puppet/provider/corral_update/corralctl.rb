# frozen_string_literal: true

require 'json'
require 'open3'

Puppet::Type.type(:corral_update).provide(:corralctl) do
  desc 'Reads `corralctl update status -o json`; writes with `corralctl update hold|release|reboot`.'

  def hold
    status['held'] ? :held : :released
  end

  def hold=(value)
    corralctl('update', value == :held ? 'hold' : 'release', resource[:machine])
  end

  # In sync unless a release waits for a reboot that nobody has asked for yet.
  def reboot
    waiting = status['status'] == 'UPDATE_STATUS_UPDATED_NEED_REBOOT' && !status['requests'].include?('reboot')
    waiting ? :not_requested : :when_staged
  end

  def reboot=(_value)
    corralctl('update', 'reboot', resource[:machine])
  end

  private

  def status
    @status ||= begin
      document = JSON.parse(corralctl('update', 'status', '-o', 'json'))
      found = document['machines'].find { |m| m['machine'] == resource[:machine] }
      raise Puppet::Error, "corral_update: no machine '#{resource[:machine]}' reports to corral-updated" unless found

      found
    end
  end

  def corralctl(*args)
    command = [resource[:corralctl]]
    { endpoint: '--endpoint', ca_file: '--ca-file', cert_file: '--cert-file',
      key_file: '--key-file', username: '--username', password_file: '--password-file' }.each do |name, flag|
      command += [flag, resource[name]] if resource[name]
    end
    out, err, state = Open3.capture3(*command, *args)
    raise Puppet::Error, "corral_update: #{args.join(' ')} failed: #{err.strip}" unless state.success?

    @status = nil # a write changes what the next read sees
    out
  end
end
