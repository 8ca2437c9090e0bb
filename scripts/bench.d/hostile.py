#!/usr/bin/env python3
"""Inputs for `scripts/bench hostile`: bundles and documents large in the ways hostile or careless
input is large. Writes into the directory given:
  crs-N.zip and crs-N/   N copies of a CRS file, zipped and as a directory (N = 1000, 4000, 10000)
  syncml-32k.xml         a SyncML message with 32,000 SCEP enrollments (4 nodes each)
  plist-80k.mobileconfig an Apple profile whose SCEP payload has 80,000 keys"""
import os, sys, zipfile

out = sys.argv[1]
crs = open(sys.argv[2], "rb").read()
for n in (1000, 4000, 10000):
    d = os.path.join(out, "crs-%d" % n)
    os.makedirs(d, exist_ok=True)
    with zipfile.ZipFile(d + ".zip", "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            name = "NDES01/CertificateRequestStatus/Succeed/%05d.CRS" % i
            z.writestr(name, crs)
            open(os.path.join(d, "%05d.CRS" % i), "wb").write(crs)

items = []
for i in range(32000):
    uid = "ModelName_%06d" % i
    for node, val in (("ServerURL", "https://ndes/certsrv/mscep/mscep.dll"), ("SubjectName", "CN=x"),
                      ("KeyLength", "2048"), ("CAThumbprint", "AB" * 20)):
        items.append("<Add><CmdID>%d</CmdID><Item><Target><LocURI>./User/Vendor/MSFT/ClientCertificateInstall/SCEP/%s/Install/%s"
                     "</LocURI></Target><Data>%s</Data></Item></Add>" % (len(items) + 2, uid, node, val))
with open(os.path.join(out, "syncml-32k.xml"), "w") as f:
    f.write('<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD></SyncHdr><SyncBody>' + "".join(items) +
            "<Final/></SyncBody></SyncML>")

keys = "".join("<key>k%d</key><string>v%d</string>" % (i, i) for i in range(80000))
with open(os.path.join(out, "plist-80k.mobileconfig"), "w") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>PayloadContent</key><array><dict>'
            '<key>PayloadType</key><string>com.apple.security.scep</string>' + keys +
            '</dict></array><key>PayloadType</key><string>Configuration</string></dict></plist>')
