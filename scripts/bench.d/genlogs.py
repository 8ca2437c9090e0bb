#!/usr/bin/env python3
"""Generates DIR/iis.log and DIR/cmtrace.log of about MIB MiB each, for scripts/bench logs."""
import sys

out, mib = sys.argv[1], int(sys.argv[2])
target = mib * 1024 * 1024

def write(path, header, make):
    with open(path, "w") as f:
        f.write(header)
        size, i, chunk = 0, 0, []
        while size < target:
            s = make(i)
            chunk.append(s)
            size += len(s)
            i += 1
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))

iis_head = ("#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
            "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
            "cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n")
write(out + "/iis.log", iis_head, lambda i:
      "2020-05-24 %02d:%02d:%02d 10.0.0.5 GET /certsrv/mscep/mscep.dll/pkiclient.exe operation=%s&message=default 443 - "
      "10.1.%d.%d Mozilla/4.0+(compatible;+Win32;+NDES+client+10.0.18362.1/19h1_release) - %d 0 0 %d\n"
      % ((i // 3600) % 24, (i // 60) % 60, i % 60, "GetCACert" if i % 2 else "GetCACaps", i % 250, (i // 7) % 250,
         500 if i % 97 == 0 else 200, i % 900))
write(out + "/cmtrace.log", "", lambda i:
      '<![LOG[Sending request to certificate registration point. Request %d for ModelName=AC_d70bf40e-1822-44b4-9ee5-'
      '0cc777c5bf70/LogicalName_3b597a2d_27d2_45ff_bca6_57d2db6f17fb;Version=1;Hash=1399397888]LOG]!><time="%d:%02d:%02d.%03d+420" '
      'date="05-24-2020" component="NDESPlugin" context="" type="%d" thread="4120" file="">\n'
      % (i, (i // 3600000) % 24, (i // 60000) % 60, (i // 1000) % 60, i % 1000, 3 if i % 101 == 0 else 1))
write(out + "/svclog.log", "", lambda i:
      '<E2ETraceEvent xmlns="http://schemas.microsoft.com/2004/06/E2ETraceEvent"><System xmlns="http://schemas.microsoft.com/2004/06/windows/eventlog/system">'
      '<EventID>0</EventID><Type>3</Type><SubType Name="Information">0</SubType><Level>%d</Level><TimeCreated SystemTime="2020-05-24T%02d:%02d:%02d.%07dZ" />'
      '<Source Name="CertificateRegistrationPoint" /><Correlation ActivityID="{6f0d8b32-1111-4c4e-9a55-5d1f3c2a9b01}" />'
      '<Execution ProcessName="w3wp" ProcessID="5112" ThreadID="17" /><Channel /><Computer>NDES01</Computer></System>'
      '<ApplicationData>VerifyRequest %d: Phase 1 validation succeeded: message signature verified and request decrypted.</ApplicationData></E2ETraceEvent>\n'
      % (2 if i % 101 == 0 else 8, (i // 3600000) % 24, (i // 60000) % 60, (i // 1000) % 60, i % 1000 * 10000, i))
