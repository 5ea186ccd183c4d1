# bench/peer-conf.sh - the peers' configurations, written once for every
# script that runs them (bench/http and its bench/http-more.sh,
# bench/http-instr), so that a setting made for fairness (HAProxy's cipher
# preference, nginx's keep-alive limits) cannot drift between the
# CPU-second and the instruction-count measurements, or between scenarios.
# Sourced; needs bash.
#
# peer_nginx_conf DIR PORT BACKEND_PORT WORKERS POOL [MORE]: nginx.conf on
# stdout: TLS on PORT (HTTP/2 on), proxy_pass to BACKEND_PORT through an
# upstream keep-alive pool of POOL, request limits raised, logging off; MORE
# goes inside http {}. Files go under DIR (cert.pem and key.pem there).
peer_nginx_conf() {
	local d=$1 port=$2 back=$3 workers=$4 pool=$5 more=${6:-}
	cat <<-CFG
	user root;
	worker_processes $workers;
	worker_rlimit_nofile 20000;
	pid $d/nginx.pid;
	error_log $d/nginx.err error;
	events { worker_connections 9000; }
	http {
	    access_log off;
	    client_body_temp_path $d/nb; proxy_temp_path $d/np; fastcgi_temp_path $d/nf;
	    uwsgi_temp_path $d/nu; scgi_temp_path $d/ns;
	$(peer_nginx_proxy "$d" "$port" "$back" "$pool" be '            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";')
	$more
	}
	CFG
}

# peer_nginx_proxy DIR PORT BACKEND_PORT POOL UPSTREAM LOCATION: an upstream
# called UPSTREAM (BACKEND_PORT, a keep-alive pool of POOL) and the server
# that takes TLS and HTTP/2 on PORT for it, with its request limits raised;
# LOCATION is the body of its "location /", lines indented as they are to
# appear. For peer_nginx_conf and bench/http-more.sh's HTTP/2 backend.
peer_nginx_proxy() {
	local d=$1 port=$2 back=$3 pool=$4 up=$5 loc=$6
	cat <<-CFG
	    upstream $up {
	        server 127.0.0.1:$back;
	        keepalive $pool;
	        keepalive_requests 1000000;
	    }
	    server {
	        listen 127.0.0.1:$port ssl http2;
	        ssl_certificate $d/cert.pem; ssl_certificate_key $d/key.pem;
	        ssl_protocols TLSv1.2 TLSv1.3;
	        keepalive_requests 1000000;
	        keepalive_timeout 300s;
	        location / {
	$loc
	        }
	    }
	CFG
}

# peer_haproxy_conf DIR PORT BACKEND_PORT WORKERS [MORE]: haproxy.cfg on
# stdout: mode http, TLS on PORT with ALPN h2 and http/1.1 and AES-128-GCM
# preferred (HAProxy would pick AES-256-GCM, OpenSSL's first choice, where
# h2load, nginx and tlsgate use AES-128-GCM), http-reuse safe to
# BACKEND_PORT; MORE is appended (more frontends and backends). DIR holds
# combined.pem.
peer_haproxy_conf() {
	local d=$1 port=$2 back=$3 workers=$4 more=${5:-}
	cat <<-CFG
	global
	    nbthread $workers
	    maxconn 9000
	    ssl-default-bind-options ssl-min-ver TLSv1.2
	    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
	defaults
	    mode http
	    timeout connect 5s
	    timeout client 300s
	    timeout server 300s
	    timeout http-keep-alive 300s
	frontend fe
	    bind 127.0.0.1:$port ssl crt $d/combined.pem alpn h2,http/1.1
	    default_backend be
	backend be
	    http-reuse safe
	    server s1 127.0.0.1:$back
	$more
	CFG
}
