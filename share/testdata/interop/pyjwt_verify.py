#!/usr/bin/python3
"""Verify Go-minted share tokens with PyJWT, as the Python services do.

Reads a JSON list of {"token", "secret", "payload"} on stdin, where payload
is the JSON text of the payload Go meant to sign. For each, prints
{"ok", "error", "claims", "reencoded"}: the claims PyJWT verified
(jwt.decode with algorithms="HS256", exactly the services' call, which also
checks exp and iat), and PyJWT's own encoding of the same payload, which must
be byte-identical to the Go token. Run with /usr/bin/python3 (python3-jwt).
"""
import json
import sys
from collections import OrderedDict

import jwt

out = []
for item in json.load(sys.stdin):
    r = {"ok": False, "error": "", "claims": None, "reencoded": ""}
    try:
        r["claims"] = jwt.decode(item["token"], item["secret"], algorithms="HS256")
        r["ok"] = True
    except Exception as e:  # report, do not stop
        r["error"] = type(e).__name__ + ": " + str(e)
    payload = json.loads(item["payload"], object_pairs_hook=OrderedDict)
    r["reencoded"] = jwt.encode(payload, item["secret"], algorithm="HS256")
    out.append(r)
json.dump(out, sys.stdout)
