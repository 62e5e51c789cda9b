# frozen_string_literal: true

# Hiera 5 backend reading keys from corral-store (or any etcd v2 keys API).
#
#   hierarchy:
#     - name: corral
#       lookup_key: corral::kv_lookup_key
#       options:
#         endpoints: [https://store1:2379, https://store2:2379]
#         prefix: /config              # Hiera key a::b is the store key /config/a/b
#         ca_file: /etc/corral/ca.crt  # cert_file, key_file, username, password_file too
#         lookup_options: true         # also read Hiera's lookup_options from the store
#
# A file's value is returned as a String (or parsed as JSON with `json: true`); a
# directory as a Hash of its children. A key the store does not have is "not found",
# so Hiera goes on to the next level or the lookup's default. Every other failure
# (unreachable store, refused TLS, refused credentials) is an error that names the
# key and the store, never a silent "not found".
require 'json'
require 'net/http'
require 'openssl'
require 'uri'

Puppet::Functions.create_function(:'corral::kv_lookup_key') do
  dispatch :kv_lookup_key do
    param 'Variant[String, Numeric]', :key
    param 'Hash', :options
    param 'Puppet::LookupContext', :context
  end

  def kv_lookup_key(key, options, context)
    return context.cached_value(key) if context.cache_has_key(key)
    # Hiera asks every level for its own `lookup_options` first; the store holds them
    # only where an operator says so, so an unreachable store is reported for the key
    # the manifest asked for
    return context.not_found if key == 'lookup_options' && options['lookup_options'] != true

    path = store_path(options.fetch('prefix', '/'), key.to_s)
    endpoints = Array(options['endpoints'] || options['endpoint'] || 'http://127.0.0.1:2379')
    body = fetch(endpoints, path, options)
    return context.not_found if body.nil?

    context.cache(key, value_of(body['node'], options['json'] == true, path))
  end

  private

  # Hiera's `a::b` is the store's `/prefix/a/b`; nothing may climb out of the prefix.
  def store_path(prefix, key)
    parts = key.split('::')
    if parts.empty? || parts.any? { |p| p.empty? || p == '.' || p == '..' || p.include?('/') }
      raise Puppet::DataBinding::LookupError, "corral: '#{key}' is not a key name Corral can look up"
    end
    '/' + (prefix.split('/').reject(&:empty?) + parts).join('/')
  end

  def fetch(endpoints, path, options)
    failures = []
    endpoints.each do |endpoint|
      escaped = path.gsub(%r{[^A-Za-z0-9_.~/-]}) { |c| c.bytes.map { |b| format('%%%02X', b) }.join }
      uri = URI.join(endpoint.end_with?('/') ? endpoint : endpoint + '/',
                     "v2/keys#{escaped}?recursive=true")
      begin
        return answer(request(uri, options), path, endpoint)
      rescue OpenSSL::SSL::SSLError, SystemCallError, IOError, Net::OpenTimeout,
             Net::ReadTimeout, SocketError => e
        failures << "#{endpoint}: #{e.message}"
      end
    end
    raise Puppet::DataBinding::LookupError,
          "corral: cannot read #{path} from the store (#{failures.join('; ')})"
  end

  def request(uri, options)
    http = Net::HTTP.new(uri.host, uri.port)
    http.open_timeout = 10 # seconds, per endpoint: then the next one is tried
    http.read_timeout = 10
    if uri.scheme == 'https'
      http.use_ssl = true
      http.verify_mode = OpenSSL::SSL::VERIFY_PEER
      http.ca_file = options['ca_file'] if options['ca_file']
      if options['cert_file']
        http.cert = OpenSSL::X509::Certificate.new(File.read(options['cert_file']))
        http.key = OpenSSL::PKey.read(File.read(options['key_file'] || options['cert_file']))
      end
    end
    req = Net::HTTP::Get.new(uri)
    if options['username']
      req.basic_auth(options['username'], password(options))
    end
    http.start { |h| h.request(req) }
  end

  def password(options)
    file = options['password_file'] || ENV['CORRAL_PASSWORD_FILE']
    return File.read(file).chomp if file
    ENV['CORRAL_PASSWORD'] || ''
  end

  # The parsed body, or nil for a key the store does not have.
  def answer(response, path, endpoint)
    body = begin
      JSON.parse(response.body.to_s)
    rescue JSON::ParserError
      nil
    end
    return body if response.code == '200' && body.is_a?(Hash) && body['node'].is_a?(Hash)
    return nil if body.is_a?(Hash) && body['errorCode'] == 100 # etcd's Key not found

    detail = body.is_a?(Hash) ? (body['message'] || body['errorCode']).to_s : response.body.to_s[0, 200]
    raise Puppet::DataBinding::LookupError,
          "corral: reading #{path} from #{endpoint} failed: HTTP #{response.code} #{detail}"
  end

  def value_of(node, json, path)
    if node['dir']
      (node['nodes'] || []).to_h do |child|
        [child['key'].split('/').last, value_of(child, json, child['key'])]
      end
    elsif json
      begin
        JSON.parse(node['value'].to_s)
      rescue JSON::ParserError => e
        raise Puppet::DataBinding::LookupError, "corral: the value of #{path} is not JSON: #{e.message}"
      end
    else
      node['value']
    end
  end
end
