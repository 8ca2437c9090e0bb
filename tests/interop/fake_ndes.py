#!/usr/bin/env python3
"""A stand-in for an NDES front end in one failure state, for the probe tests. Loopback only.

Answers the bare URL (and everything else) with --status and --body, says Server: Microsoft-IIS/10.0
unless --server is given, optionally over TLS (--cert/--key). With --scep-upstream, GetCACaps,
GetCACert and PKIOperation are forwarded to a real SCEP server so the later checks have something to
read. Prints the port it listens on, then serves until killed (or --max requests)."""
import argparse, http.server, ssl, sys, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--status", type=int, default=403)
ap.add_argument("--body", default="<html><body><h1>403 - Forbidden: Access is denied.</h1></body></html>")
ap.add_argument("--server", default="Microsoft-IIS/10.0")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--scep-upstream")
ap.add_argument("--max-url", type=int, default=0, help="answer 414 to longer request lines")
ap.add_argument("--caps", help="answer GetCACaps with this text (\\r\\n and \\n escapes) instead of upstream's")
ap.add_argument("--close-caps", action="store_true",
                help="answer GetCACaps from upstream, then drop the connection (keep-alive refused)")
ap.add_argument("--cut-caps", type=int, default=0,
                help="answer GetCACaps declaring N more bytes than it sends, then drop the connection")
ap.add_argument("--stall-caps", action="store_true",
                help="answer GetCACaps with its headers and 4 bytes of the body, then send nothing more")
a = ap.parse_args()


class H(http.server.BaseHTTPRequestHandler):
    server_version = a.server
    sys_version = ""
    protocol_version = "HTTP/1.1"  # keep-alive, as IIS: clients may reuse the connection

    def log_message(self, *args):
        pass

    def version_string(self):
        return a.server

    def answer(self, status, body, ctype="text/html"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self, body=None):
        q = self.path.split("?", 1)[1] if "?" in self.path else ""
        req = urllib.request.Request(a.scep_upstream + "?" + q, data=body, method=self.command)
        if body is not None:
            req.add_header("Content-Type", self.headers.get("Content-Type", "application/x-pki-message"))
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return self.answer(r.status, r.read(), r.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as e:
            return self.answer(e.code, e.read(), e.headers.get("Content-Type", ""))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if a.scep_upstream:
            return self.forward(body)
        self.answer(a.status, a.body)

    def close_early(self, extra=0, stall=False):
        """GetCACaps answered, then the connection dropped: after the whole answer (what some NDES
        servers do), short of the declared length (extra), or stalled after 4 bytes."""
        q = self.path.split("?", 1)[1]
        with urllib.request.urlopen(a.scep_upstream + "?" + q, timeout=10) as r:
            data = r.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data) + extra))
        self.end_headers()
        self.wfile.write(data[:4] if stall else data)
        self.wfile.flush()
        if stall:
            import time
            time.sleep(30)
        self.close_connection = True

    def do_GET(self):
        if a.caps is not None and "operation=GetCACaps" in self.path:
            return self.answer(200, a.caps.replace("\\r", "\r").replace("\\n", "\n"), "text/plain")
        if a.close_caps and "operation=GetCACaps" in self.path:
            return self.close_early()
        if a.cut_caps and "operation=GetCACaps" in self.path:
            return self.close_early(extra=a.cut_caps)
        if a.stall_caps and "operation=GetCACaps" in self.path:
            return self.close_early(stall=True)
        if a.max_url and len(self.path) > a.max_url:
            return self.answer(414, "<h1>HTTP Error 414. The request URL is too long.</h1>")
        if a.scep_upstream and "operation=" in self.path:
            return self.forward()
        self.answer(a.status, a.body)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
if a.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
