"""A static file server over TLS (the Python standard library's), for fetch-models' https:// test
with a certificate from a test CA. Usage: https_server.py HOST PORT DIR CERT KEY"""
import functools
import http.server
import ssl
import sys

host, port, directory, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
server = http.server.ThreadingHTTPServer((host, port), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
