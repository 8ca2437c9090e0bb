#!/usr/bin/env python3
"""Generates DIR/u_ex200524.log (about MIB MiB) and DIR/NDESPlugin.log: the traffic of a busy NDES
server with the Intune connector, for scripts/bench diagnose. Every enrollment writes what the real
server writes: the device's GetCACaps and GetCACert, NDESPlugin's VerifyRequest POST to the
Certificate Registration Point (200), the device's GET PKIOperation with its message in the query
string (a Windows device GETs whatever GetCACaps says), the connector's Notify POST (200), and
NDESPlugin.log's lines for the challenge check. Nearly all succeed; one in 400 fails with HTTP 500
and win32 status 1346 (IIS_IUSRS cannot impersonate), one in 1000 with the CA refusing the
template (0x80094800)."""
import base64
import random
import sys

out, mib = sys.argv[1], int(sys.argv[2])
target = mib * 1024 * 1024
rnd = random.Random(8894)
# a pool of PKIOperation messages (URL-encoded base64 of about 2 KB, as a 2048-bit CSR makes)
pool = [base64.b64encode(rnd.randbytes(1900)).decode().replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        for _ in range(64)]
agents = ["Mozilla/4.0+(compatible;+Win32;+NDES+client+10.0.19041.1/vb_release)",
          "Dalvik/2.1.0+(Linux;+U;+Android+13;+SM-G991B+Build/TP1A.220624.014)",
          "profiled/1.0+CFNetwork/1404.0.5+Darwin/22.3.0"]

iis = open(out + "/u_ex200524.log", "w")
plugin = open(out + "/NDESPlugin.log", "w")
iis.write("#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2020-05-24 00:00:00\n"
          "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
          "cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n")

size, i, lines, chunk, pchunk = 0, 0, [], [], []


def day(t):
    # 28-day months: every date exists
    return 5 + t // (28 * 86400), 1 + (t // 86400) % 28


def stamp(t):
    return "2020-%02d-%02d %02d:%02d:%02d" % (day(t) + ((t // 3600) % 24, (t // 60) % 60, t % 60))


def cm(t, text, kind=1):
    # CMTrace local time at +420 bias (UTC-7): the server's zone
    lt = t - 7 * 3600
    return ('<![LOG[%s]LOG]!><time="%d:%02d:%02d.%03d+420" date="%02d-%02d-2020" component="NDESPlugin" '
            'context="" type="%d" thread="%d" file="">\n'
            % ((text, (lt // 3600) % 24, (lt // 60) % 60, lt % 60, t % 1000) + day(lt) + (kind, 4000 + t % 64)))


while size < target:
    t = 8 * 3600 + i  # one enrollment a second, from 08:00 UTC
    ip = "10.%d.%d.%d" % (1 + i % 200, (i // 200) % 250, 1 + (i // 50000) % 250)
    ua = agents[i % 3]
    fail_imp = i % 400 == 399
    fail_ca = i % 1000 == 777
    msg = pool[i % len(pool)]
    rows = [
        "%s 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=GetCACaps&message=default 443 - %s %s - 200 0 0 %d\n"
        % (stamp(t), ip, ua, i % 7),
        "%s 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=GetCACert&message=default 443 - %s %s - 200 0 0 %d\n"
        % (stamp(t), ip, ua, 5 + i % 11),
    ]
    if fail_imp:
        rows.append("%s 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=PKIOperation&message=%s 443 - %s %s - 500 0 1346 %d\n"
                    % (stamp(t + 1), msg, ip, ua, 30 + i % 40))
    else:
        rows.append("%s 10.0.0.5 POST /CertificateRegistrationSvc/Certificate/VerifyRequest - 443 - 10.0.0.5 NDES_Plugin - 200 0 0 %d\n"
                    % (stamp(t + 1), 400 + i % 900))
        rows.append("%s 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=PKIOperation&message=%s 443 - %s %s - 200 0 0 %d\n"
                    % (stamp(t + 1), msg, ip, ua, 900 + i % 1500))
        if not fail_ca:
            rows.append("%s 10.0.0.5 POST /CertificateRegistrationSvc/Certificate/Notify - 443 - 10.0.0.5 NDES_Plugin - 200 0 0 %d\n"
                        % (stamp(t + 2), 40 + i % 60))
        prow = [cm(t, "Calling VerifyRequest ..."), cm(t, "Sending request to certificate registration point."),
                cm(t + 1, "Verify challenge returns true"), cm(t + 1, "Exiting VerifyRequest with 0x0")]
        if fail_ca:
            prow.append(cm(t + 1, "CA failed request 0x80094800", 3))
        pchunk.extend(prow)
    for r in rows:
        size += len(r)
    chunk.extend(rows)
    i += 1
    if len(chunk) > 20000:
        iis.write("".join(chunk))
        plugin.write("".join(pchunk))
        chunk, pchunk = [], []
iis.write("".join(chunk))
plugin.write("".join(pchunk))
iis.close()
plugin.close()
print("%d enrollments" % i)
